// What changed between the features a map source holds and the ones it should hold, as a
// MapLibre source diff. A live city changes a few things at a time while a source holds
// thousands (7,007 cameras, 648 road links): sending only the changes keeps the main thread's
// copy-to-worker small and lets MapLibre re-tile only where a geometry moved.
// Features are matched by `properties.id` (the entity id; sources use it as promoteId).
import type { GeoJSONSourceDiff } from 'maplibre-gl';

type Feature = GeoJSON.Feature;

export type FeatureDiff = {
  byId: Map<string, Feature>;       // the features now, by id: the next call's `before`
  diff: GeoJSONSourceDiff | null;   // null: nothing changed
};

// null when the features can't be diffed (a feature without an id, or two with one id): the
// caller replaces the whole data instead.
export function featureDiff(before: Map<string, Feature>, after: Feature[]): FeatureDiff | null {
  const byId = new Map<string, Feature>();
  const add: Feature[] = [];
  const update: NonNullable<GeoJSONSourceDiff['update']> = [];
  for (const f of after) {
    const id = f.properties?.id;
    if (typeof id !== 'string' || byId.has(id)) return null;
    byId.set(id, f);
    const old = before.get(id);
    if (!old) { add.push(f); continue; }
    if (old === f) continue;
    const newGeometry = sameGeometry(old.geometry, f.geometry) ? undefined : f.geometry;
    const changed = changedProperties(old.properties ?? {}, f.properties ?? {});
    if (!newGeometry && !changed) continue;
    update.push({
      id,
      ...(newGeometry ? { newGeometry } : {}),
      ...(changed?.removed.length ? { removeProperties: changed.removed } : {}),
      ...(changed?.set.length ? { addOrUpdateProperties: changed.set } : {}),
    });
  }
  const remove: string[] = [];
  for (const id of before.keys()) if (!byId.has(id)) remove.push(id);
  if (!add.length && !update.length && !remove.length) return { byId, diff: null };
  return {
    byId,
    diff: { ...(add.length ? { add } : {}), ...(update.length ? { update } : {}), ...(remove.length ? { remove } : {}) },
  };
}

// An entity's update brings a new location object even where it did not move.
function sameGeometry(a: GeoJSON.Geometry, b: GeoJSON.Geometry): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function changedProperties(a: GeoJSON.GeoJsonProperties, b: GeoJSON.GeoJsonProperties):
  { set: { key: string; value: unknown }[]; removed: string[] } | null {
  const set: { key: string; value: unknown }[] = [];
  const removed: string[] = [];
  for (const [key, value] of Object.entries(b ?? {})) {
    const was = a?.[key];
    if (was !== value && JSON.stringify(was) !== JSON.stringify(value)) set.push({ key, value });
  }
  for (const key of Object.keys(a ?? {})) if (!(key in (b ?? {}))) removed.push(key);
  return set.length || removed.length ? { set, removed } : null;
}

// At most `max` added or updated features of a change, so that one task never copies thousands
// of features to MapLibre's worker (7,007 cameras at once held the main thread ~120 ms);
// `byId` is then what MapLibre holds after this part, and a later call sends the rest.
export function firstPart(before: Map<string, Feature>, change: FeatureDiff, max: number): FeatureDiff & { complete: boolean } {
  const add = change.diff?.add ?? [];
  const update = change.diff?.update ?? [];
  if (add.length + update.length <= max) return { ...change, complete: true };
  const addNow = add.slice(0, max);
  const updateNow = update.slice(0, max - addNow.length);
  const remove = change.diff?.remove ?? [];
  const byId = new Map(before);
  for (const id of remove) byId.delete(String(id));
  for (const f of addNow) byId.set(f.properties!.id as string, f);
  for (const u of updateNow) byId.set(String(u.id), change.byId.get(String(u.id))!);
  return {
    byId,
    diff: { add: addNow, ...(updateNow.length ? { update: updateNow } : {}), ...(remove.length ? { remove } : {}) },
    complete: false,
  };
}
