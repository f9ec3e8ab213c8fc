// The wall's words in Korean (first) and English. Codes in the data (dispatchStatus, grades,
// snow-removal states) get their labels here, never in the data (docs/DATA-MODEL.md).
export type Lang = 'ko' | 'en';

const T: Record<string, [string, string]> = {
  live: ['실시간', 'Live'],
  alerts: ['재난·경보', 'Alerts & disasters'],
  traffic: ['도로 교통', 'Road traffic'],
  air: ['대기질', 'Air quality'],
  weather: ['날씨', 'Weather'],
  water: ['수위·침수', 'Water'],
  safety: ['안전시설', 'Safety facilities'],
  dispatch: ['119 구급', '119 dispatch'],
  complaints: ['오늘 민원', "Today's requests"],
  timeline: ['이벤트', 'Events'],
  noAlerts: ['진행 중인 경보 없음', 'No active alerts'],
  noData: ['데이터 없음', 'No data'],
  pledges: ['공약 이행', 'Pledge progress'],
  more: ['건 더', 'more'],
  places: ['곳', ' places'],
  pledgeUnit: ['개 공약', ' pledges'],
  indicators: ['정책 지표', 'Policy indicators'],
  target: ['목표', 'target'],
  press: ['언론 키워드 (14일)', 'Press keywords (14 days)'],
  thisWeek: ['이번 주', 'This week'],
  byWeek: ['주별 민원 (최근 8주)', 'Requests by week (last 8)'],
  acknowledged: ['확인됨', 'Acknowledged'],
  acknowledge: ['확인', 'Acknowledge'],
  clearAlarm: ['해제', 'Clear'],
  note: ['메모', 'Note'],
  login: ['로그인', 'Log in'],
  logout: ['로그아웃', 'Log out'],
  username: ['아이디', 'User name'],
  password: ['비밀번호', 'Password'],
  badLogin: ['아이디 또는 비밀번호가 맞지 않습니다', 'Wrong user name or password'],
  throttled: ['시도가 너무 많습니다. 잠시 후 다시 시도하세요', 'Too many attempts; try again shortly'],
  offlineShort: ['서버에 연결할 수 없습니다', 'Cannot reach the server'],
  role_public: ['시민', 'Public'],
  role_staff: ['직원', 'Staff'],
  role_executive: ['시장실', 'Executive'],
  role_admin: ['관리자', 'Admin'],
  scenario: ['시나리오', 'Scenario'],
  sc_normal: ['평상시', 'Normal'],
  'sc_heavy-snow': ['대설', 'Heavy snow'],
  sc_typhoon: ['태풍', 'Typhoon'],
  'sc_market-fire': ['시장 화재', 'Market fire'],
  simRunning: ['시뮬레이터 작동 중', 'Simulator running'],
  simStopped: ['시뮬레이터 정지', 'Simulator stopped'],
  actionFailed: ['처리하지 못했습니다', 'Could not do it'],
  done: ['완료', 'Done'],
  stale: ['지연', 'Stale'],
  failed: ['수집 실패', 'Failed'],
  simulated: ['시뮬레이션', 'Simulated'],
  updated: ['갱신', 'Updated'],
  source: ['출처', 'Source'],
  offline: ['연결 끊김 — 다시 연결하는 중… 화면의 값은 마지막으로 받은 값입니다', 'Offline — reconnecting… values shown are the last received'],
  command: ['명령: 실시간 강남, CCTV 보여줘, 미세먼지, 구급차, 제설 현황, 역삼1동, 오늘 민원', 'Command: live, CCTV, air, ambulance, snow, a dong name, requests'],
  unknownCommand: ['알 수 없는 명령', 'Unknown command'],
  listening: ['듣는 중…', 'Listening…'],
  mute: ['음성 끔', 'Muted'],
  unmute: ['음성 켬', 'Sound on'],
  replay: ['되돌려 보기', 'Replay'],
  replayAt: ['과거 화면', 'As of'],
  backToLive: ['실시간으로', 'Back to live'],
  close: ['닫기', 'Close'],
  last24h: ['최근 24시간', 'Last 24 hours'],
  noHistory: ['이력 없음', 'No history'],
  nearestCctv: ['가까운 CCTV', 'Nearest CCTV'],
  noStream: ['영상 스트림 없음 (공공데이터에 주소 미제공)', 'No stream (not in the public data)'],
  openStream: ['영상 보기', 'Open stream'],
  loading: ['불러오는 중…', 'Loading…'],
  avgSpeed: ['평균 속도', 'Average speed'],
  congested: ['정체 구간', 'Congested links'],
  links: ['도로 링크', 'Road links'],
  worstDong: ['가장 나쁜 동', 'Worst dong'],
  sensors: ['센서', 'Sensors'],
  abnormal: ['이상', 'Abnormal'],
  bridges: ['교량', 'Bridges'],
  markets: ['전통시장', 'Markets'],
  ambulances: ['구급차', 'Ambulances'],
  open: ['처리 중', 'Open'],
  total: ['전체', 'Total'],
  layers: ['지도', 'Map'],
  cctv: ['CCTV', 'CCTV'],
  bikes: ['따릉이', 'Bike stations'],
  hotspots: ['사고다발지', 'Accident hotspots'],
  roads: ['도로 속도', 'Road speed'],
  snow: ['제설', 'Snow removal'],
  roadworks: ['도로 공사', 'Road works'],
  er: ['응급실', 'Emergency rooms'],
  choropleth: ['동별', 'By dong'],
  population: ['인구', 'Population'],
  caseCount: ['확진·사례 수', 'Case count'],
  pm10: ['미세먼지 PM10', 'PM10'],
  requestsByDong: ['민원 수', 'Requests'],
  home: ['홈', 'Home'],
  dongs: ['행정동', 'Dongs'],
  dataset: ['데이터셋', 'Dataset'],
  ago: ['전', 'ago'],
  none: ['없음', 'none'],
  gauges: ['수위 관측소', 'gauges'],
  overAlert: ['주의 이상', 'at alert or above'],
};

const CODES: Record<string, [string, string]> = {
  available: ['대기', 'Available'],
  ordered: ['출동지령', 'Ordered'],
  enRoute: ['출동', 'En route'],
  onScene: ['현장도착', 'On scene'],
  transporting: ['이송', 'Transporting'],
  atHospital: ['병원도착', 'At hospital'],
  returning: ['귀소', 'Returning'],
  free: ['원활', 'Free'],
  slow: ['서행', 'Slow'],
  congested: ['정체', 'Congested'],
  jammed: ['극심', 'Jammed'],
  none: ['해당 없음', 'None'],
  scheduled: ['예정', 'Scheduled'],
  inProgress: ['작업 중', 'In progress'],
  done: ['완료', 'Done'],
  critical: ['심각', 'Critical'],
  major: ['경계', 'Major'],
  minor: ['주의', 'Minor'],
  warning: ['관심', 'Warning'],
  raised: ['발령', 'Raised'],
  acknowledged: ['확인', 'Acknowledged'],
  cleared: ['해제', 'Cleared'],
  planned: ['계획', 'Planned'],
  active: ['진행', 'Active'],
  finished: ['종료', 'Finished'],
  normal: ['정상', 'Normal'],
  alert: ['주의', 'Alert'],
  danger: ['위험', 'Danger'],
  '1': ['좋음', 'Good'],
  '2': ['보통', 'Moderate'],
  '3': ['나쁨', 'Bad'],
  '4': ['매우나쁨', 'Very bad'],
};

let lang: Lang = (localStorage.getItem('cityroom.lang') as Lang) || 'ko';

export function getLang(): Lang {
  return lang;
}
export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem('cityroom.lang', l);
  document.documentElement.lang = l;
}
export function t(key: string): string {
  const e = T[key];
  return e ? e[lang === 'ko' ? 0 : 1] : key;
}
export function code(value: unknown): string {
  const e = CODES[String(value)];
  return e ? e[lang === 'ko' ? 0 : 1] : String(value ?? '');
}
export function localName(name: unknown): string {
  if (name && typeof name === 'object') {
    const m = name as Record<string, string>;
    return m[lang] ?? m.ko ?? m.en ?? Object.values(m)[0] ?? '';
  }
  return name == null ? '' : String(name);
}
// Building an Intl formatter costs far more than using one (toLocaleTimeString builds one per
// call), and panels format hundreds of times a second on a busy wall: one per language.
const clockFormats = new Map<Lang, Intl.DateTimeFormat>();
export function timeOf(iso: string | number | null | undefined): string {
  if (iso == null || iso === '') return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  let f = clockFormats.get(lang);
  if (!f) {
    f = new Intl.DateTimeFormat(lang === 'ko' ? 'ko-KR' : 'en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: 'Asia/Seoul' });
    clockFormats.set(lang, f);
  }
  return f.format(d);
}
