// The fleet's live state: module list, latest reading and last-hour sparkline per sensor. Values
// live in signals bound straight into the DOM, so a live batch updates text nodes and canvases
// without re-rendering the card list.
import { batch, signal, type Signal } from '@preact/signals';
import { getSeries } from '../data/series';
import { type LiveMessage, onLive } from '../data/live';
import { listModules, type ModuleSummary } from '../data/modules';
import { listZones, type Zone } from '../data/zones';

export interface Reading {
  value: number;
  /** Unix ms. */
  time: number;
}

/** A sparkline: one point per minute (the mean of that minute's readings), oldest first. Live
 * readings are merged into their minute, so the line has the same x scale before and after them
 * however fast a sensor publishes. */
export interface Spark {
  /** Start of each minute, Unix ms. */
  t: number[];
  v: number[];
  /** Readings in each minute (for the running mean). */
  n: number[];
}

export const SPARK_WINDOW_MS = 3_600_000;
export const SPARK_BUCKET_MS = 60_000;
const SPARK_BUCKETS = SPARK_WINDOW_MS / SPARK_BUCKET_MS;

export const modules = signal<ModuleSummary[]>([]);
export const modulesError = signal<string | null>(null);
/** Zones by id; null until loaded (or when the list failed). */
export const zones = signal<Map<string, Zone> | null>(null);
export const loaded = signal(false);
/** Current time, ticking every 15 s, for "seen 3 min ago". */
export const now = signal(Date.now());
setInterval(() => (now.value = Date.now()), 15_000);

const readings = new Map<string, Signal<Reading | null>>();
const sparks = new Map<string, { data: Spark; version: Signal<number> }>();
const lastSeen = new Map<string, Signal<number | null>>();
/** module + sensor type → the `hardware:type` series its card shows (the first one known), so two
 * sensors of the same type never feed one line. */
const primary = new Map<string, string>();

const key = (moduleId: string, sensor: string): string => `${moduleId}\u0000${sensor}`;

export function reading(moduleId: string, sensor: string): Signal<Reading | null> {
  const k = key(moduleId, sensor);
  let s = readings.get(k);
  if (!s) readings.set(k, (s = signal(null)));
  return s;
}

export function spark(moduleId: string, sensor: string): { data: Spark; version: Signal<number> } {
  const k = key(moduleId, sensor);
  let s = sparks.get(k);
  if (!s) sparks.set(k, (s = { data: { t: [], v: [], n: [] }, version: signal(0) }));
  return s;
}

export function seen(module: ModuleSummary): Signal<number | null> {
  let s = lastSeen.get(module.id);
  if (!s) lastSeen.set(module.id, (s = signal(module.lastSeen ? Date.parse(module.lastSeen) : null)));
  return s;
}

/** Merge one reading into its minute (a new minute at the end, or an earlier one still kept). */
export function pushSpark(s: Spark, time: number, value: number, count = 1): void {
  const bucket = Math.floor(time / SPARK_BUCKET_MS) * SPARK_BUCKET_MS;
  let i = s.t.length - 1;
  while (i >= 0 && s.t[i]! > bucket) i--;
  if (i >= 0 && s.t[i] === bucket) {
    const n = s.n[i]! + count;
    s.v[i] = s.v[i]! + ((value - s.v[i]!) * count) / n;
    s.n[i] = n;
  } else {
    s.t.splice(i + 1, 0, bucket);
    s.v.splice(i + 1, 0, value);
    s.n.splice(i + 1, 0, count);
  }
  const cutoff = s.t[s.t.length - 1]! - SPARK_WINDOW_MS;
  let drop = 0;
  while (drop < s.t.length && s.t[drop]! <= cutoff) drop++;
  if (drop) {
    s.t.splice(0, drop);
    s.v.splice(0, drop);
    s.n.splice(0, drop);
  }
}

/** The series a live message belongs to: `hardware:type` for `{module}/{hardware}/{type}`, the
 * plain type for `{module}/{type}` (the keys of `/series`). */
export function seriesKeyOf(topic: string): string {
  const levels = topic.split('/');
  return levels.length >= 3 ? `${levels[levels.length - 2]}:${levels[levels.length - 1]}` : levels[levels.length - 1]!;
}

/** Whether readings of `seriesKey` are the ones the card shows for their sensor type. */
function isPrimary(moduleId: string, sensorType: string, seriesKey: string): boolean {
  const k = key(moduleId, sensorType);
  const chosen = primary.get(k);
  if (chosen === undefined) primary.set(k, seriesKey);
  return chosen === undefined || chosen === seriesKey;
}

/** Sensor type of a measurement topic: `{module}/{type}` or `{module}/{hardware}/{type}`. */
export function sensorOf(topic: string): string {
  return topic.slice(topic.lastIndexOf('/') + 1);
}

// A message from a module not in the list: refetch the list (once per second at most), and again
// a few times while it is still missing (its first rows may not be written yet).
let refetchTimer: ReturnType<typeof setTimeout> | undefined;
const unknown = new Map<string, number>();
function refetchSoon(moduleId: string): void {
  if (!unknown.has(moduleId)) unknown.set(moduleId, 0);
  refetchTimer ??= setTimeout(async () => {
    await refreshModules();
    refetchTimer = undefined;
    const known = new Set(modules.peek().map((m) => m.id));
    for (const [id, tries] of unknown) {
      if (known.has(id) || tries >= 5) unknown.delete(id);
      else unknown.set(id, tries + 1);
    }
    if (unknown.size) refetchSoon(unknown.keys().next().value!);
  }, 1000);
}

export function applyLive(messages: LiveMessage[]): void {
  if (!messages.length) return;
  const known = new Set(modules.peek().map((m) => m.id));
  const touched = new Set<{ version: Signal<number> }>();
  batch(() => {
    for (const m of messages) {
      const time = Date.parse(m.time);
      // A module not in the list yet (new, or the list is still loading): its readings are kept
      // all the same, for its card once the refetched list has it and for its module page.
      if (!known.has(m.moduleId)) refetchSoon(m.moduleId);
      const last = lastSeen.get(m.moduleId);
      if (last && (last.value === null || time > last.value)) last.value = time;
      if (m.kind !== 'measurement' || typeof m.value !== 'number') continue;
      const sensor = sensorOf(m.topic);
      if (!isPrimary(m.moduleId, sensor, seriesKeyOf(m.topic))) continue;
      const r = reading(m.moduleId, sensor);
      if (!r.peek() || time >= r.peek()!.time) r.value = { value: m.value, time };
      const s = spark(m.moduleId, sensor);
      pushSpark(s.data, time, m.value);
      touched.add(s);
    }
    for (const s of touched) s.version.value++;
  });
}

onLive(applyLive);

export async function refreshModules(): Promise<void> {
  // Zones come second: the cards render as soon as the list is in, then group.
  const zoneRequest = listZones().catch(() => null);
  try {
    const list = await listModules();
    batch(() => {
      modules.value = list;
      modulesError.value = null;
      loaded.value = true;
      for (const m of list) {
        const s = seen(m);
        const t = m.lastSeen ? Date.parse(m.lastSeen) : null;
        if (t !== null && (s.value === null || t > s.value)) s.value = t;
      }
    });
  } catch (error) {
    modulesError.value = String(error instanceof Error ? error.message : error);
    loaded.value = true;
  }
  const zoneList = await zoneRequest;
  zones.value = zoneList ? new Map(zoneList.map((z) => [z.id, z])) : null;
}

// Sparklines: fetched when a card first becomes visible, a few at a time.
const sparkLoaded = new Set<string>();
const sparkQueue: string[] = [];
let sparkActive = 0;
const SPARK_CONCURRENCY = 4;

export function wantSparklines(moduleId: string): void {
  if (sparkLoaded.has(moduleId)) return;
  sparkLoaded.add(moduleId);
  sparkQueue.push(moduleId);
  pumpSparklines();
}

/** Forget loaded sparklines (after a reconnect: what arrived meanwhile is refetched). */
export function resetSparklines(visible: Iterable<string>): void {
  sparkLoaded.clear();
  for (const id of visible) wantSparklines(id);
}

function pumpSparklines(): void {
  while (sparkActive < SPARK_CONCURRENCY && sparkQueue.length) {
    const id = sparkQueue.shift()!;
    sparkActive++;
    void loadSparklines(id).finally(() => {
      sparkActive--;
      pumpSparklines();
    });
  }
}

async function loadSparklines(moduleId: string): Promise<void> {
  // Minute buckets aligned on the minute, the same ones live readings are merged into: the hour
  // up to the end of the current minute.
  const to = Math.ceil((Date.now() + 1) / SPARK_BUCKET_MS) * SPARK_BUCKET_MS;
  let result;
  try {
    result = await getSeries(moduleId, new Date(to - SPARK_WINDOW_MS), new Date(to), SPARK_BUCKETS);
  } catch {
    sparkLoaded.delete(moduleId);
    return;
  }
  batch(() => {
    for (const series of result.series) {
      if (!isPrimary(moduleId, series.sensorType, series.key)) continue;
      const s = spark(moduleId, series.sensorType);
      const fetched: Spark = { t: [], v: [], n: [] };
      let lastIndex = -1;
      for (let i = 0; i < series.t.length; i++) {
        const v = series.mean[i];
        if (v === null || v === undefined) continue; // a gap marker
        pushSpark(fetched, series.t[i]! * 1000, v);
        lastIndex = i;
      }
      // Live readings of minutes newer than the fetched ones were not in the answer: keep them.
      const newest = fetched.t.length ? fetched.t[fetched.t.length - 1]! : -Infinity;
      for (let i = 0; i < s.data.t.length; i++)
        if (s.data.t[i]! > newest) pushSpark(fetched, s.data.t[i]!, s.data.v[i]!, s.data.n[i]!);
      s.data = fetched;
      s.version.value++;
      if (lastIndex >= 0) {
        const r = reading(moduleId, series.sensorType);
        const time = series.t[lastIndex]! * 1000;
        if (!r.peek()) r.value = { value: series.mean[lastIndex]!, time };
      }
    }
  });
}
