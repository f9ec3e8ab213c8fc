// The governance numbers the wall shows next to the live city (docs/GOVERNANCE.md, "For the
// wall panels"): pledge progress, indicator tiles, request statistics, the press keyword trend. They change
// slowly, so they are polled (every minute, and after a login) rather than streamed; a route
// that is missing, refused or empty leaves its part null and the panel says "no data".
export interface PledgeSummary {
  count: number;
  implementationRate: number;
  byStatus: { status: string; label?: string; count: number; share?: number }[];
  byField: { field: string; count: number; implementationRate: number }[];
}
export interface RequestStats {
  total: number;
  open: number;
  today?: { total: number; byArea?: { area: string; count: number }[] };
  thisWeek?: { week?: string; total: number; byArea?: { area: string; count: number }[] };
  byCategory?: { code?: string; name?: string; count: number }[];
  byWeek?: { week: string; count: number }[];
}
export interface PressTrends {
  items: number;
  topics: { topic: string; name?: string; mentions: number; daily?: { date: string; mentions: number }[] }[];
}
export interface IndicatorTile {
  id: string;
  name?: string;
  nameEn?: string;
  unit?: string;
  period?: string;
  value?: number | null;
  target?: number | null;
  achievement?: number | null;
  trend?: string;          // up | down | flat | none
  trendMeaning?: string;   // improving | worsening | steady
}
export interface Governance {
  pledges: PledgeSummary | null;
  indicators: IndicatorTile[] | null;
  requests: RequestStats | null;
  press: PressTrends | null;
}

async function get<T>(url: string): Promise<T | null> {
  try {
    const r = await fetch(url, { headers: { Accept: 'application/json' } });
    return r.ok ? ((await r.json()) as T) : null;
  } catch {
    return null;
  }
}

export async function fetchGovernance(): Promise<Governance> {
  const [pledges, indicators, requests, press] = await Promise.all([
    get<PledgeSummary>('/cityroom/v1/pledges/summary'),
    get<IndicatorTile[]>('/cityroom/v1/indicators'),
    get<RequestStats>('/cityroom/v1/requests/stats'),
    get<PressTrends>('/cityroom/v1/press/trends'),
  ]);
  return {
    pledges: pledges && typeof pledges.count === 'number' && pledges.count > 0 ? pledges : null,
    indicators: Array.isArray(indicators) && indicators.length > 0 ? indicators : null,
    requests: requests && typeof requests.total === 'number' ? requests : null,
    press: press && Array.isArray(press.topics) && press.items > 0 ? press : null,
  };
}
