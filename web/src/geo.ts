// Geometry helpers and the map's colour codes, apart from the map itself: the panels, the key
// and the first paint use them before MapLibre (a chunk loaded after the first paint) is there.
import { Entity } from './api';

type Geometry = GeoJSON.Geometry;

export const DISPATCH_COLOURS: Record<string, string> = {
  available: '#3ddc84',
  ordered: '#ffd23f',
  enRoute: '#ff8c1a',
  onScene: '#ff3b3b',
  transporting: '#d65bff',
  atHospital: '#4aa8ff',
  returning: '#9fb3c8',
};

// River gauges by floodLevelStatus.
export const FLOOD_COLOURS: Record<string, string> = { normal: '#29b6f6', alert: '#ff9800', danger: '#ff1744' };

export function geometryOf(e: Entity): Geometry | null {
  const loc = e.location as Geometry | undefined;
  return loc && typeof loc === 'object' && 'type' in loc ? loc : null;
}

export function bboxOf(g: Geometry): [number, number, number, number] | null {
  let w = 180, s = 90, e = -180, n = -90, any = false;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      any = true;
      w = Math.min(w, c[0] as number); e = Math.max(e, c[0] as number);
      s = Math.min(s, c[1] as number); n = Math.max(n, c[1] as number);
    } else if (Array.isArray(c)) c.forEach(visit);
  };
  if ('coordinates' in g) visit(g.coordinates);
  return any ? [w, s, e, n] : null;
}

