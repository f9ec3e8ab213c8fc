// The offline map: no tiles, no glyph server, nothing fetched from outside. The base is the
// city's own boundaries (dong polygons and the gu outline) from the hub; names and cluster
// counts are HTML markers because MapLibre's text needs glyph files we do not ship.
// Layers are GeoJSON sources refreshed at most every MAP_REFRESH_MS whatever the rate of
// deltas; a refresh hands MapLibre only what changed (featurediff.ts).
import maplibregl, { GeoJSONSource, LngLatBoundsLike, Map as MlMap, MapGeoJSONFeature } from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import { City, Entity } from './api';
import { featureDiff, firstPart } from './featurediff';
import { DISPATCH_COLOURS, FLOOD_COLOURS, geometryOf } from './geo';
import { localName } from './i18n';

export type LayerId = 'dongs' | 'cctv' | 'bikes' | 'hotspots' | 'roads' | 'vehicles' | 'roadworks' | 'facilities' | 'water' | 'er';
export type RoadMode = 'speed' | 'snow';

type Geometry = GeoJSON.Geometry;
type Feature = GeoJSON.Feature;

const MAP_REFRESH_MS = 250;
// Features handed to MapLibre in one task at most; a bigger change goes over several tasks.
const FEATURES_PER_TASK = 2000;
// Sources whose features are entities (known by their id); the point sources come after them.
const ENTITY_SOURCES = ['dongs', 'gu', 'roads', 'roadworks', 'vehicles'];

const POINT_SOURCES: { id: LayerId; colour: string; radius: number; cluster: boolean }[] = [
  { id: 'cctv', colour: '#4fc3f7', radius: 7, cluster: true },
  { id: 'bikes', colour: '#8bc34a', radius: 7, cluster: true },
  { id: 'hotspots', colour: '#ff5252', radius: 10, cluster: true },
  { id: 'facilities', colour: '#ffb300', radius: 8, cluster: false },
  { id: 'water', colour: FLOOD_COLOURS.normal, radius: 10, cluster: false },
  { id: 'er', colour: '#ffffff', radius: 11, cluster: false },
];

function centroid(g: Geometry): [number, number] | null {
  let sx = 0, sy = 0, n = 0;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      sx += c[0] as number; sy += c[1] as number; n++;
    } else if (Array.isArray(c)) c.forEach(visit);
  };
  if (g.type === 'Polygon') visit(g.coordinates[0]);
  else if (g.type === 'MultiPolygon') {
    // the largest ring: dongs with islands keep their label on the main part
    let best = g.coordinates[0];
    for (const p of g.coordinates) if (p[0].length > best[0].length) best = p;
    visit(best[0]);
  } else if ('coordinates' in g) visit(g.coordinates);
  return n ? [sx / n, sy / n] : null;
}

export class CityMap {
  readonly map: MlMap;
  private data = new Map<string, Feature[]>();
  private dirty = new Set<string>();
  private frame = 0;
  private labels = new Map<string, maplibregl.Marker>();
  private clusterMarkers = new Map<string, maplibregl.Marker>();
  private visible = new Set<LayerId>(['dongs', 'hotspots', 'roads', 'vehicles', 'roadworks', 'facilities', 'water', 'er']);
  onPick: (layer: string, id: string) => void = () => {};
  ready: Promise<void>;

  constructor(container: HTMLElement, city: City) {
    this.map = new maplibregl.Map({
      container,
      style: {
        version: 8,
        sources: {},
        layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#0b1220' } }],
      },
      center: city.centre,
      zoom: city.zoom,
      attributionControl: false,
      dragRotate: false,
      pitchWithRotate: false,
      maxZoom: 18,
      minZoom: 9,
      fadeDuration: 0,
    });
    this.map.touchZoomRotate.disableRotation();
    this.ready = new Promise((resolve) => this.map.on('load', () => {
      this.setup();
      for (const s of this.data.keys()) this.dirty.add(s);  // data that came before the map
      this.flush();
      resolve();
    }));
  }

  private setup(): void {
    const m = this.map;
    // Sizes follow the layout's type size, so targets stay touchable on the wall (≥15 mm).
    const unit = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
    const k = unit / 15;
    const empty: GeoJSON.FeatureCollection = { type: 'FeatureCollection', features: [] };
    // promoteId: features are known by their entity's id, so a refresh can send only changes
    for (const id of ENTITY_SOURCES) m.addSource(id, { type: 'geojson', data: empty, promoteId: 'id' });
    for (const id of [...ENTITY_SOURCES, ...POINT_SOURCES.map((p) => p.id)]) this.shown.set(id, new Map());
    m.addLayer({
      id: 'dongs-fill', type: 'fill', source: 'dongs',
      paint: {
        'fill-color': ['case', ['==', ['typeof', ['get', 'v']], 'number'],
          ['interpolate', ['linear'], ['get', 'v'], 0, '#143a5a', 0.25, '#1f6f8b', 0.5, '#e0c341', 0.75, '#f28b30', 1, '#e5383b'],
          '#132033'],
        'fill-opacity': 0.75,
      },
    });
    m.addLayer({ id: 'dongs-line', type: 'line', source: 'dongs', paint: { 'line-color': '#5d7a99', 'line-width': 1.2 } });
    m.addLayer({ id: 'gu-line', type: 'line', source: 'gu', paint: { 'line-color': '#c9d8ea', 'line-width': 3 } });
    m.addLayer({
      id: 'roads-line', type: 'line', source: 'roads',
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: {
        'line-color': ['coalesce', ['get', 'colour'], '#6b7c93'],
        // links without a speed recede; the coloured ones are what the eye should find
        'line-width': ['interpolate', ['linear'], ['zoom'], 11, ['case', ['==', ['get', 'colour'], '#41566e'], 0.8 * k, 1.8 * k], 15, ['case', ['==', ['get', 'colour'], '#41566e'], 2 * k, 5 * k]],
      },
    });
    m.addLayer({
      id: 'roadworks-line', type: 'line', source: 'roadworks',
      paint: { 'line-color': '#ff9800', 'line-width': 6, 'line-dasharray': [1, 1] },
    });
    m.addLayer({
      id: 'roadworks-point', type: 'circle', source: 'roadworks', filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-color': '#ff9800', 'circle-radius': 10, 'circle-stroke-color': '#000', 'circle-stroke-width': 2 },
    });
    for (const p of POINT_SOURCES) {
      m.addSource(p.id, { type: 'geojson', data: empty, promoteId: 'id', cluster: p.cluster, clusterRadius: 60, clusterMaxZoom: 16 });
      if (p.cluster) {
        m.addLayer({
          id: `${p.id}-clusters`, type: 'circle', source: p.id, filter: ['has', 'point_count'],
          paint: {
            'circle-color': p.colour, 'circle-opacity': 0.85,
            'circle-radius': ['interpolate', ['linear'], ['get', 'point_count'], 2, 0.9 * unit, 100, 1.3 * unit, 1000, 1.8 * unit],
            'circle-stroke-color': '#0b1220', 'circle-stroke-width': 2,
          },
        });
      }
      m.addLayer({
        id: `${p.id}-points`, type: 'circle', source: p.id, filter: ['!', ['has', 'point_count']],
        paint: {
          'circle-color': p.id === 'facilities' ? ['case', ['==', ['get', 'alarm'], true], '#ff1744', p.colour]
            : p.id === 'water' ? ['match', ['get', 'status'], 'danger', FLOOD_COLOURS.danger, 'alert', FLOOD_COLOURS.alert, p.colour] as any : p.colour,
          'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, p.radius * 0.7 * k, 16, p.radius * 1.5 * k],
          'circle-stroke-color': p.id === 'water' ? '#ffffff' : '#0b1220', 'circle-stroke-width': 2,
        },
      });
    }
    m.addLayer({
      id: 'vehicles-points', type: 'circle', source: 'vehicles',
      paint: {
        'circle-color': ['match', ['get', 'dispatchStatus'], ...Object.entries(DISPATCH_COLOURS).flat(), '#9fb3c8'] as any,
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, 9 * k, 16, 16 * k],
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 3,
      },
    });

    // In order of precedence under a finger: single things, then clusters, then lines, then areas.
    const pickable = ['vehicles-points', 'er-points', 'water-points', 'facilities-points', 'hotspots-points', 'cctv-points', 'bikes-points', 'roadworks-point', 'roadworks-line', 'roads-line', 'dongs-fill'];
    const clusters = POINT_SOURCES.filter((p) => p.cluster).map((p) => `${p.id}-clusters`);
    const order = [...pickable.slice(0, 8), ...clusters, ...pickable.slice(8)];
    m.on('click', (ev) => {
      const box: [maplibregl.PointLike, maplibregl.PointLike] = [[ev.point.x - 12, ev.point.y - 12], [ev.point.x + 12, ev.point.y + 12]];
      const layers = order.filter((l) => m.getLayer(l) && m.getLayoutProperty(l, 'visibility') !== 'none');
      const hits = m.queryRenderedFeatures(box, { layers });
      if (!hits.length) return;
      // the most specific thing under the finger: points before lines before areas
      hits.sort((a, b) => layers.indexOf(a.layer.id) - layers.indexOf(b.layer.id));
      const f = hits[0];
      if (f.layer.id.endsWith('-clusters')) this.expandCluster(f);
      else this.onPick(f.layer.id.split('-')[0], String(f.properties?.id ?? ''));
    });
    m.on('mousemove', (ev) => {
      const layers = [...clusters, ...pickable.filter((l) => l !== 'dongs-fill')].filter((l) => m.getLayer(l));
      m.getCanvas().style.cursor = m.queryRenderedFeatures(ev.point, { layers }).length ? 'pointer' : '';
    });
    m.on('moveend', () => this.updateClusterMarkers());
    m.on('sourcedata', (e) => { if (e.isSourceLoaded && POINT_SOURCES.some((p) => p.id === e.sourceId)) this.updateClusterMarkers(); });
  }

  private expandCluster(f: MapGeoJSONFeature): void {
    const src = this.map.getSource(f.source) as GeoJSONSource;
    const clusterId = f.properties?.cluster_id as number;
    // A cluster touched while its source is being updated (a snapshot arriving in parts) may be
    // gone from the new index, or its id now another cluster's: a touch always zooms in where
    // the finger was, at least one step.
    src.getClusterExpansionZoom(clusterId).catch(() => this.map.getZoom() + 2).then((zoom) => {
      const g = f.geometry as GeoJSON.Point;
      const to = Math.min(Math.max(zoom, this.map.getZoom() + 1) + 0.5, 18);
      this.map.easeTo({ center: g.coordinates as [number, number], zoom: to, duration: this.animationMs(400) });
    });
  }

  // Counts on clusters as HTML (no glyphs needed), only for clusters on screen.
  private updateClusterMarkers(): void {
    const seen = new Set<string>();
    for (const p of POINT_SOURCES) {
      if (!p.cluster || !this.visible.has(p.id) || !this.map.getSource(p.id)) continue;
      for (const f of this.map.querySourceFeatures(p.id, { filter: ['has', 'point_count'] })) {
        const key = `${p.id}:${f.properties?.cluster_id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const count = Number(f.properties?.point_count ?? 0);
        let mk = this.clusterMarkers.get(key);
        const lnglat = (f.geometry as GeoJSON.Point).coordinates as [number, number];
        if (!mk) {
          const el = document.createElement('div');
          el.className = 'cluster-count';
          mk = new maplibregl.Marker({ element: el }).setLngLat(lnglat).addTo(this.map);
          this.clusterMarkers.set(key, mk);
        }
        mk.setLngLat(lnglat);
        mk.getElement().textContent = count >= 1000 ? `${(count / 1000).toFixed(1)}k` : String(count);
      }
    }
    for (const [k, mk] of this.clusterMarkers) {
      if (!seen.has(k)) { mk.remove(); this.clusterMarkers.delete(k); }
    }
  }

  // Each setData makes MapLibre re-tile the source and repaint the whole canvas (3840 px wide on
  // the wall), so sources refresh at most MAP_REFRESH_MS apart whatever the rate of deltas;
  // a change still shows within that plus one frame. Where frames are expensive (no GPU: the
  // compositor reads every WebGL frame back while the main thread waits — Commit → ReadPixels
  // in a trace — so an empty frame of the wall's map costs ~0.3 s of main thread and a full one
  // 0.5–1.5 s, and one refresh of several sources takes a few frames as their tiles come back) the next
  // refresh waits until the map is idle again and then as long as it was busy: the map takes
  // at most about half of the main thread, and the panels and touch stay responsive. With a
  // GPU the map is idle within a frame and the spacing stays MAP_REFRESH_MS.
  setFeatures(source: string, features: Feature[]): void {
    this.data.set(source, features);
    this.dirty.add(source);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.frame || !this.dirty.size) return;
    // A refresh is a task of its own, not inside an animation frame: the frame that follows has
    // MapLibre's drawing and the page's layout to do, and together they made long tasks.
    // The rest of a change too big for one task goes next; a source's first data (the city
    // drawn at all) does not wait for the map to settle.
    if (this.partial.size) {
      this.frame = window.setTimeout(() => this.flush(), 0);
      return;
    }
    const first = [...this.dirty].some((s) => !this.filled.has(s) && (this.data.get(s)?.length ?? 0) > 0);
    if (this.busy && !first) return;
    const wait = first ? Math.max(0, this.lastFlush + MAP_REFRESH_MS - performance.now())
      : Math.max(0, this.lastFlush + MAP_REFRESH_MS - performance.now(), this.nextFlushAt - performance.now());
    this.frame = window.setTimeout(() => this.flush(), wait);
  }
  private busy = false;
  private filled = new Set<string>();
  private nextFlushAt = 0;
  private lastFlush = -Infinity;

  // The map's own cadence now: how long the last refresh kept it busy (ms), for the figures.
  lastBusyMs = 0;

  private settled(): void {
    if (!this.busy) return;
    this.busy = false;
    window.clearTimeout(this.busyTimer);
    const now = performance.now();
    this.lastBusyMs = now - this.lastFlush;
    this.nextFlushAt = now + this.lastBusyMs;
    this.scheduleFlush();
  }
  private busyTimer = 0;

  // Whether data is still on its way to MapLibre (a refresh pending, or the rest of a big change):
  // for the tests, which must not read positions off a layer that is filling.
  updating(): boolean {
    return this.dirty.size > 0 || this.partial.size > 0;
  }

  // Resolves once these sources have had data handed to MapLibre (for the figures).
  filledWith(sources: string[]): Promise<void> {
    return new Promise((resolve) => {
      const check = () => { if (sources.every((x) => this.filled.has(x))) { resolve(); return true; } return false; };
      if (!check()) this.flushWaiters.push(() => { if (!check()) this.filledWith(sources).then(resolve); });
    });
  }
  private flushWaiters: (() => void)[] = [];
  // What MapLibre holds per source, by entity id (each starts empty); a source absent here gets
  // its whole data next time (its features could not be diffed).
  private shown = new Map<string, Map<string, Feature>>();
  private partial = new Set<string>();  // sources with the rest of a change still to send

  private flush(): void {
    this.frame = 0;
    this.lastFlush = performance.now();
    let sent = false;
    for (const s of this.dirty) {
      const src = this.map.getSource(s) as GeoJSONSource | undefined;
      if (!src) continue;
      const features = this.data.get(s) ?? [];
      const before = this.shown.get(s);
      const whole = featureDiff(before ?? new Map(), features);
      if (!whole || !before) {
        // features without unique ids, or after such: the whole data, diffed again when it can be
        src.setData({ type: 'FeatureCollection', features });
        if (whole) this.shown.set(s, whole.byId); else this.shown.delete(s);
        this.partial.delete(s);
        sent = true;
      } else {
        const change = firstPart(before, whole, FEATURES_PER_TASK);
        if (change.diff) { src.updateData(change.diff); sent = true; }
        this.shown.set(s, change.byId);
        if (change.complete) this.partial.delete(s); else this.partial.add(s);
      }
      if (features.length) this.filled.add(s);
    }
    this.dirty.clear();
    for (const s of this.partial) this.dirty.add(s);
    if (sent) {
      // busy until MapLibre says every tile is loaded and drawn (or 5 s, whatever it says)
      this.busy = true;
      this.map.once('idle', () => this.settled());
      window.clearTimeout(this.busyTimer);
      this.busyTimer = window.setTimeout(() => this.settled(), 5000);
    }
    for (const w of this.flushWaiters.splice(0)) w();
    if (this.partial.size) this.scheduleFlush();
  }

  setDongs(dongs: Entity[], values: Map<string, number>, onLabel: (el: HTMLElement, e: Entity) => void): void {
    const feats: Feature[] = [];
    const gu: Feature[] = [];
    let max = 0;
    for (const v of values.values()) max = Math.max(max, v);
    const keep = new Set<string>();
    for (const d of dongs) {
      const g = geometryOf(d);
      if (!g) continue;
      if (d.adminLevel === 'gu') { gu.push({ type: 'Feature', geometry: g, properties: { id: d.id } }); continue; }
      const v = values.get(d.id);
      feats.push({ type: 'Feature', geometry: g, properties: { id: d.id, name: localName(d.name), v: v == null ? null : max > 0 ? v / max : 0 } });
      // Labels are kept per dong and only their text changes: no marker churn per delta.
      let mk = this.labels.get(d.id);
      if (!mk) {
        const c = centroid(g);
        if (!c) continue;
        const el = document.createElement('div');
        el.className = 'dong-label';
        mk = new maplibregl.Marker({ element: el }).setLngLat(c).addTo(this.map);
        this.labels.set(d.id, mk);
      }
      keep.add(d.id);
      onLabel(mk.getElement(), d);
    }
    for (const [id, mk] of this.labels) if (!keep.has(id)) { mk.remove(); this.labels.delete(id); }
    this.setFeatures('dongs', feats);
    this.setFeatures('gu', gu);
  }

  setVisible(layer: LayerId, on: boolean): void {
    if (on) this.visible.add(layer); else this.visible.delete(layer);
    const ids: Record<LayerId, string[]> = {
      dongs: ['dongs-fill', 'dongs-line'],
      cctv: ['cctv-clusters', 'cctv-points'],
      bikes: ['bikes-clusters', 'bikes-points'],
      hotspots: ['hotspots-clusters', 'hotspots-points'],
      roads: ['roads-line'],
      vehicles: ['vehicles-points'],
      roadworks: ['roadworks-line', 'roadworks-point'],
      facilities: ['facilities-points'],
      water: ['water-points'],
      er: ['er-points'],
    };
    for (const id of ids[layer]) if (this.map.getLayer(id)) this.map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
    this.updateClusterMarkers();
  }
  isVisible(layer: LayerId): boolean {
    return this.visible.has(layer);
  }

  fitTo(bbox: [number, number, number, number], padding = 40): void {
    this.map.fitBounds(bbox as LngLatBoundsLike, { padding, duration: this.animationMs(500), maxZoom: 16 });
  }

  // Where one refresh keeps the map busy for long (a software renderer: a frame is 0.3–1.5 s of
  // blocked main thread), an animated move is a chain of such frames showing one or two
  // in-between pictures: the map jumps instead.
  private animationMs(ms: number): number {
    return this.lastBusyMs > 400 ? 0 : ms;
  }

  // Test and soak hook: the screen position of the first rendered feature of a layer.
  // Only a feature a finger can reach: on the canvas, not under the legend, a card or a marker.
  firstRenderedPoint(layer: string): { x: number; y: number } | null {
    const canvas = this.map.getCanvas();
    const r = canvas.getBoundingClientRect();
    for (const f of this.map.queryRenderedFeatures({ layers: [layer] })) {
      if (f.geometry.type !== 'Point') continue;
      const p = this.map.project(f.geometry.coordinates as [number, number]);
      const x = r.left + p.x, y = r.top + p.y;
      if (document.elementFromPoint(x, y) === canvas) return { x, y };
    }
    return null;
  }
}
