// The fleet's live state: module list, latest reading and last-hour sparkline per sensor. Values
// live in signals bound straight into the DOM, so a live batch updates text nodes and canvases
// without re-rendering the card list.
import { batch, signal, type Signal } from '@preact/signals';
import { getHistory } from '../data/history';
import { type LiveMessage, onLive } from '../data/live';
import { listModules, type ModuleSummary } from '../data/modules';
import { listZones, type Zone, zoneOf } from '../data/zones';

export interface Reading {
  value: number;
  /** Unix ms. */
  time: number;
}

export interface Spark {
  t: number[];
  v: number[];
}

export const SPARK_WINDOW_MS = 3_600_000;
const SPARK_MAX_POINTS = 240;

export const modules = signal<ModuleSummary[]>([]);
export const modulesError = signal<string | null>(null);
export const zones = signal<Map<string, Zone> | null>(null);
export const loaded = signal(false);
/** Current time, ticking every 15 s, for "seen 3 min ago". */
export const now = signal(Date.now());
setInterval(() => (now.value = Date.now()), 15_000);

const readings = new Map<string, Signal<Reading | null>>();
const sparks = new Map<string, { data: Spark; version: Signal<number> }>();
const lastSeen = new Map<string, Signal<number | null>>();

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
  if (!s) sparks.set(k, (s = { data: { t: [], v: [] }, version: signal(0) }));
  return s;
}

export function seen(module: ModuleSummary): Signal<number | null> {
  let s = lastSeen.get(module.id);
  if (!s) lastSeen.set(module.id, (s = signal(module.lastSeen ? Date.parse(module.lastSeen) : null)));
  return s;
}

function pushSpark(s: Spark, time: number, value: number): void {
  s.t.push(time);
  s.v.push(value);
  const cutoff = time - SPARK_WINDOW_MS;
  let drop = 0;
  while (drop < s.t.length && s.t[drop]! < cutoff) drop++;
  if (s.t.length - drop > SPARK_MAX_POINTS * 2) drop = s.t.length - SPARK_MAX_POINTS;
  if (drop) {
    s.t.splice(0, drop);
    s.v.splice(0, drop);
  }
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
      if (!known.has(m.moduleId)) {
        refetchSoon(m.moduleId);
        continue;
      }
      const last = lastSeen.get(m.moduleId);
      if (last && (last.value === null || time > last.value)) last.value = time;
      if (m.kind !== 'measurement' || typeof m.value !== 'number') continue;
      const sensor = sensorOf(m.topic);
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
  // Zones come second: the cards render as soon as the list is in, then regroup.
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
  zones.value = zoneList ? zoneOf(zoneList) : null;
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
  const to = new Date();
  let result;
  try {
    result = await getHistory(moduleId, new Date(to.getTime() - SPARK_WINDOW_MS), to);
  } catch {
    sparkLoaded.delete(moduleId);
    return;
  }
  batch(() => {
    for (const series of result.series) {
      const s = spark(moduleId, series.sensorType);
      const fetched: Spark = { t: [], v: [] };
      const step = Math.max(1, Math.ceil(series.t.length / SPARK_MAX_POINTS));
      for (let i = 0; i < series.t.length; i += step) {
        const v = series.mean[i];
        if (v !== null && v !== undefined) {
          fetched.t.push(series.t[i]! * 1000);
          fetched.v.push(v);
        }
      }
      // Keep live points newer than the fetched range.
      const newest = fetched.t.length ? fetched.t[fetched.t.length - 1]! : 0;
      for (let i = 0; i < s.data.t.length; i++)
        if (s.data.t[i]! > newest) pushSpark(fetched, s.data.t[i]!, s.data.v[i]!);
      s.data.t = fetched.t;
      s.data.v = fetched.v;
      s.version.value++;
      const lastIndex = series.mean.findLastIndex((v) => v !== null);
      if (lastIndex >= 0) {
        const r = reading(moduleId, series.sensorType);
        const time = series.t[lastIndex]! * 1000;
        if (!r.peek() || time > r.peek()!.time) r.value = { value: series.mean[lastIndex]!, time };
      }
    }
  });
}
