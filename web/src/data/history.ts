// History for charts. Reads today's `{sensors: {type: [{time, value}]}}` and the chart-resolution
// shape of issue 14/15 (`{series|sensors: {"hardware:type": {t, min, max, mean}}}`), and returns
// uPlot-ready columns with gaps marked as nulls.
import { modulesGetModuleHistory } from '../client/sdk.gen';
import { authorized } from './http';

export interface ChartSeries {
  key: string;
  hardware: string | null;
  sensorType: string;
  /** Unix seconds, ascending. */
  t: number[];
  mean: (number | null)[];
  /** Present when points are aggregates (min–max band). */
  min: (number | null)[] | null;
  max: (number | null)[] | null;
}

export interface HistoryResult {
  resolution: string | null;
  series: ChartSeries[];
}

const seconds = (time: unknown): number =>
  typeof time === 'number' ? (time > 1e11 ? time / 1000 : time) : Date.parse(String(time)) / 1000;

/** Insert a null wherever consecutive points are further apart than 3× the median step. */
export function withGaps(series: ChartSeries): ChartSeries {
  const { t } = series;
  if (t.length < 3) return series;
  const steps = t.slice(1).map((value, i) => value - t[i]!).sort((a, b) => a - b);
  const limit = 3 * Math.max(steps[steps.length >> 1]!, 1e-3);
  const out: ChartSeries = { ...series, t: [], mean: [], min: series.min && [], max: series.max && [] };
  for (let i = 0; i < t.length; i++) {
    if (i > 0 && t[i]! - t[i - 1]! > limit) {
      out.t.push((t[i]! + t[i - 1]!) / 2);
      out.mean.push(null);
      out.min?.push(null);
      out.max?.push(null);
    }
    out.t.push(t[i]!);
    out.mean.push(series.mean[i] ?? null);
    out.min?.push(series.min![i] ?? null);
    out.max?.push(series.max![i] ?? null);
  }
  return out;
}

function parseKey(key: string): { hardware: string | null; sensorType: string } {
  const at = key.indexOf(':');
  return at < 0 ? { hardware: null, sensorType: key } : { hardware: key.slice(0, at), sensorType: key.slice(at + 1) };
}

/** Normalize a history body of either shape. */
export function toSeries(body: unknown): HistoryResult {
  const b = (body ?? {}) as Record<string, any>;
  const source: Record<string, unknown> = b.series ?? b.sensors ?? {};
  const series: ChartSeries[] = [];
  for (const [key, value] of Object.entries(source)) {
    const names = parseKey(key);
    if (Array.isArray(value)) {
      const points = value as { time: unknown; value: number | null; min?: number; max?: number }[];
      const aggregated = points.some((p) => p.min !== undefined);
      series.push({
        key,
        ...names,
        t: points.map((p) => seconds(p.time)),
        mean: points.map((p) => p.value),
        min: aggregated ? points.map((p) => p.min ?? null) : null,
        max: aggregated ? points.map((p) => p.max ?? null) : null,
      });
    } else if (value && typeof value === 'object') {
      const c = value as { t?: unknown[]; mean?: (number | null)[]; v?: (number | null)[]; min?: (number | null)[]; max?: (number | null)[] };
      series.push({
        key,
        ...names,
        t: (c.t ?? []).map(seconds),
        mean: c.mean ?? c.v ?? [],
        min: c.min ?? null,
        max: c.max ?? null,
      });
    }
  }
  series.sort((a, b) => a.key.localeCompare(b.key));
  return { resolution: typeof b.resolution === 'string' ? b.resolution : null, series: series.map(withGaps) };
}

export async function getHistory(moduleId: string, from: Date, to: Date): Promise<HistoryResult> {
  const body = await authorized(() =>
    modulesGetModuleHistory({
      path: { module_id: moduleId },
      query: { from: from.toISOString(), to: to.toISOString(), limit: 20_000 },
    }),
  );
  return toSeries(body);
}
