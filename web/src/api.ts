// What the wall reads over HTTP: the city, the catalog, the temporal API and geo queries.
// Every cityroom route may not exist yet on a given server (they arrive with other issues):
// a 404 or a network error gives the documented fallback, never an exception on screen.
export const CITY_CONTEXT = 'https://cityroom.dev/ns/city-context.jsonld';
const LINK = `<${CITY_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;

export interface City {
  id: string;
  name: { ko: string; en: string };
  centre: [number, number];
  zoom: number;
  bbox?: [number, number, number, number];
}

// Gangnam-gu, the demo city, when /cityroom/v1/city is not there.
export const DEFAULT_CITY: City = {
  id: 'gangnam',
  name: { ko: '강남', en: 'Gangnam' },
  centre: [127.0473, 37.4965],
  zoom: 12.3,
  bbox: [127.0, 37.455, 127.12, 37.535],
};

export interface Dataset {
  id: string;
  name?: { ko?: string; en?: string } | string;
  entityTypes?: string[];
  lastSuccess?: string | null;
  freshness?: string;
  source?: string;
  kind?: string;
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T | null> {
  try {
    const r = await fetch(url, init);
    if (!r.ok) return null;
    return (await r.json()) as T;
  } catch {
    return null;
  }
}

export async function fetchCity(): Promise<City> {
  const c = await getJson<Partial<City>>('/cityroom/v1/city');
  if (!c || !Array.isArray(c.centre)) return DEFAULT_CITY;
  return { ...DEFAULT_CITY, ...c } as City;
}

export async function fetchDatasets(): Promise<Dataset[]> {
  const d = await getJson<Dataset[] | { datasets: Dataset[] }>('/cityroom/v1/datasets');
  if (!d) return [];
  return Array.isArray(d) ? d : Array.isArray(d.datasets) ? d.datasets : [];
}

// Strips expanded IRIs to their last segment, so that a term two Smart Data Models contexts
// define differently still reads by its short name (see docs/WEB.md, "contexts").
export function shortKeys(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    // "https://smartdatamodels.org/dataModel.Alert/severity", "ngsi-ld:default-context/name"
    const i = Math.max(k.lastIndexOf('/'), k.lastIndexOf('#'));
    const key = k.includes(':') && !k.startsWith('@') ? k.slice(Math.max(i, k.lastIndexOf(':')) + 1) : k;
    if (!(key in out) || k === key) out[key] = v;
  }
  if (typeof out.type === 'string' && (out.type as string).includes('://')) {
    const s = out.type as string;
    out.type = s.slice(Math.max(s.lastIndexOf('/'), s.lastIndexOf('#')) + 1);
  }
  return out;
}

export type Series = { attr: string; points: [number, number][] };

// The last 24 hours of an entity's numeric attributes, hourly averages when the history is
// long (the temporal API's aggregatedValues), raw instances otherwise.
export async function fetchHistory(id: string, hours = 24): Promise<Series[]> {
  const from = new Date(Date.now() - hours * 3600_000).toISOString();
  const url = `/ngsi-ld/v1/temporal/entities/${encodeURIComponent(id)}?timerel=after&timeAt=${encodeURIComponent(from)}&options=temporalValues&lastN=500`;
  const body = await getJson<Record<string, unknown>>(url, { headers: { Link: LINK, Accept: 'application/json' } });
  if (!body) return [];
  const out: Series[] = [];
  for (const [k, v] of Object.entries(shortKeys(body))) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
    const values = (v as { values?: unknown[] }).values;
    if (!Array.isArray(values)) continue;
    const points: [number, number][] = [];
    for (const p of values) {
      if (Array.isArray(p) && typeof p[0] === 'number') points.push([Date.parse(String(p[1])), p[0]]);
    }
    if (points.length) out.push({ attr: k, points });
  }
  return out;
}

export interface Entity {
  id: string;
  type: string;
  [k: string]: unknown;
}

// Cameras near a point, nearest first (geo query near;maxDistance, distance sorted here).
export async function nearestCameras(lon: number, lat: number, metres = 300, max = 5): Promise<(Entity & { distance: number })[]> {
  const url = `/ngsi-ld/v1/entities?type=Camera&georel=${encodeURIComponent(`near;maxDistance==${metres}`)}&geometry=Point&coordinates=${encodeURIComponent(`[${lon},${lat}]`)}&options=keyValues&limit=50`;
  const list = await getJson<Entity[]>(url, { headers: { Link: LINK, Accept: 'application/json' } });
  if (!list) return [];
  return list
    .map((e) => shortKeys(e) as Entity)
    .map((e) => ({ ...e, distance: distanceTo(e, lon, lat) }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, max);
}

function distanceTo(e: Entity, lon: number, lat: number): number {
  const loc = e.location as { type?: string; coordinates?: number[] } | undefined;
  if (!loc || loc.type !== 'Point' || !loc.coordinates) return Infinity;
  const [x, y] = loc.coordinates;
  const r = 6371000;
  const dLat = ((y - lat) * Math.PI) / 180;
  const dLon = ((x - lon) * Math.PI) / 180;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos((lat * Math.PI) / 180) * Math.cos((y * Math.PI) / 180) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(a));
}

// The state of every entity of `type` as of `at`: the last instance of each attribute before
// that time, laid over the entity's current shape (the temporal API keeps attribute instances,
// not whole entities). Paged by 1,000 entities; `max` bounds how many are read.
export async function fetchStateAt(type: string, at: Date, max = 3000): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  for (let offset = 0; offset < max; offset += 1000) {
    const url = `/ngsi-ld/v1/temporal/entities?type=${encodeURIComponent(type)}&timerel=before&timeAt=${encodeURIComponent(at.toISOString())}&lastN=1&options=temporalValues&limit=1000&offset=${offset}`;
    const list = await getJson<Record<string, unknown>[]>(url, { headers: { Link: LINK, Accept: 'application/json' } });
    if (!list) break;
    for (const raw of list) {
      const e = shortKeys(raw);
      const state: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e)) {
        if (k === 'id' || k === 'type') continue;
        const vv = v as { values?: unknown[][]; objects?: unknown[][] } | undefined;
        const last = vv?.values?.[vv.values.length - 1] ?? vv?.objects?.[vv.objects.length - 1];
        if (Array.isArray(last)) state[k] = last[0];
      }
      // listed with no instance before `at`: the entity did not exist yet (or had no values)
      if (Object.keys(state).length) out.set(String(e.id), state);
    }
    if (list.length < 1000) break;
  }
  return out;
}
