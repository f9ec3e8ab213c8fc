// Commands, typed or spoken: a small grammar of Korean (and English) phrases mapped to views.
export type Command =
  | { kind: 'view'; view: ViewName }
  | { kind: 'dong'; name: string }
  | { kind: 'unknown'; text: string };

export type ViewName = 'home' | 'cctv' | 'air' | 'ambulance' | 'snow' | 'complaints' | 'traffic' | 'pledges' | 'water';

const RULES: [RegExp, ViewName][] = [
  [/cctv|씨씨티비|카메라|camera/i, 'cctv'],
  [/미세\s*먼지|대기|공기|air|pm\s*10|pm10|pm2/i, 'air'],
  [/구급|119|앰뷸런스|ambulance/i, 'ambulance'],
  [/제설|눈|snow/i, 'snow'],
  [/수위|침수|하천|홍수|water|flood|river/i, 'water'],
  [/공약|pledge/i, 'pledges'],
  [/민원|complaint|request/i, 'complaints'],
  [/교통|도로|정체|traffic|road/i, 'traffic'],
  [/실시간|홈|처음|live|home/i, 'home'],
];

// `dongNames` are the city's dong names ("역삼1동"); a dong may be said without its number's
// space or without the final 동 ("역삼 1", "압구정").
export function parseCommand(text: string, dongNames: string[]): Command {
  const s = text.trim().replace(/[.!?。]+$/, '');
  const compact = s.replace(/\s+/g, '');
  if (compact) {
    const byLength = [...dongNames].sort((a, b) => b.length - a.length);
    for (const name of byLength) {
      const n = name.replace(/\s+/g, '');
      const stem = n.replace(/동$/, '');
      if (compact.includes(n) || (stem.length >= 2 && compact.includes(stem) && !/^실시간/.test(compact))) return { kind: 'dong', name };
    }
  }
  for (const [re, view] of RULES) if (re.test(s)) return { kind: 'view', view };
  return { kind: 'unknown', text: s };
}

interface SpeechRecognitionLike {
  lang: string;
  interimResults: boolean;
  maxAlternatives: number;
  start(): void;
  stop(): void;
  onresult: ((ev: any) => void) | null;
  onend: (() => void) | null;
  onerror: ((ev: any) => void) | null;
}

// The browser's speech recognition where it exists (Chromium: webkitSpeechRecognition).
export function speechRecognition(lang: string): SpeechRecognitionLike | null {
  const C = (window as any).SpeechRecognition ?? (window as any).webkitSpeechRecognition;
  if (!C) return null;
  const r = new C() as SpeechRecognitionLike;
  r.lang = lang;
  r.interimResults = false;
  r.maxAlternatives = 1;
  return r;
}

// Reads text aloud (critical alerts) unless muted; a new message interrupts the previous one.
export function speak(text: string, lang: string): void {
  if (!('speechSynthesis' in window)) return;
  const u = new SpeechSynthesisUtterance(text);
  u.lang = lang;
  u.rate = 1;
  window.speechSynthesis.cancel();
  window.speechSynthesis.speak(u);
}
