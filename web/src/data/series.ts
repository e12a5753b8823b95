// Chart data from `GET /api/modules/{id}/series`: at most `points` buckets per `hardware:type`
// series over the whole range, columnar (`t` in ms, `min`, `max`, `mean`, `count`). Returned as
// uPlot-ready columns (seconds) with a null wherever readings are missing, so gaps stay gaps.
import { modulesGetModuleSeries } from '../client/sdk.gen';
import type { SeriesColumns } from '../client/types.gen';
import { authorized } from './http';

export interface ChartSeries {
  /** `hardware:type`, or the plain type for readings on a two-level topic. */
  key: string;
  hardware: string | null;
  sensorType: string;
  /** Unix seconds, ascending. */
  t: number[];
  mean: (number | null)[];
  /** Null when every bucket holds at most one reading (nothing to show as a band). */
  min: (number | null)[] | null;
  max: (number | null)[] | null;
  /** Readings per point (0 for a gap marker). */
  count: number[];
  /** Points further apart than this (seconds) have a gap between them. */
  gapSeconds: number;
}

export interface SeriesResult {
  /** Width of a bucket in seconds (the chart's resolution). */
  bucketSeconds: number | null;
  series: ChartSeries[];
}

export function parseKey(key: string): { hardware: string | null; sensorType: string } {
  const at = key.indexOf(':');
  return at < 0 ? { hardware: null, sensorType: key } : { hardware: key.slice(0, at), sensorType: key.slice(at + 1) };
}

function pushGap(out: ChartSeries, t: number): void {
  out.t.push(t);
  out.mean.push(null);
  out.min?.push(null);
  out.max?.push(null);
  out.count.push(0);
}

/** Insert a null between two points further apart than `limit` seconds (empty buckets are left
 * out by the API, so a missing stretch would otherwise be bridged by a straight line). The limit
 * is 3× the median step, and at least 2 buckets, so a sensor slower than the bucket width is not
 * drawn as dots. */
export function withGaps(series: ChartSeries, bucketSeconds: number | null): ChartSeries {
  const { t } = series;
  const steps = t.slice(1).map((value, i) => value - t[i]!).sort((a, b) => a - b);
  const median = steps.length >= 2 ? steps[steps.length >> 1]! : 0;
  const limit = Math.max(3 * median, 2 * (bucketSeconds ?? 0), 30);
  const out: ChartSeries = { ...series, t: [], mean: [], min: series.min && [], max: series.max && [], count: [], gapSeconds: limit };
  for (let i = 0; i < t.length; i++) {
    if (i > 0 && t[i]! - t[i - 1]! > limit) pushGap(out, (t[i]! + t[i - 1]!) / 2);
    out.t.push(t[i]!);
    out.mean.push(series.mean[i] ?? null);
    out.min?.push(series.min![i] ?? null);
    out.max?.push(series.max![i] ?? null);
    out.count.push(series.count[i] ?? 1);
  }
  return out;
}

function toChart(key: string, c: SeriesColumns, bucketSeconds: number | null): ChartSeries {
  const mean = c.mean ?? c.v ?? [];
  const banded = Boolean(c.min && c.max && c.count?.some((n) => n > 1));
  return withGaps(
    {
      key,
      ...parseKey(key),
      t: c.t.map((ms) => ms / 1000),
      mean,
      min: banded ? c.min! : null,
      max: banded ? c.max! : null,
      count: c.count ?? mean.map(() => 1),
      gapSeconds: 0,
    },
    bucketSeconds,
  );
}

/** Every series of a module over [from, to], at most `points` buckets each. */
export async function getSeries(moduleId: string, from: Date, to: Date, points = 500): Promise<SeriesResult> {
  const body = await authorized(() =>
    modulesGetModuleSeries({
      path: { module_id: moduleId },
      query: { from: from.toISOString(), to: to.toISOString(), points },
    }),
  );
  const series = Object.entries(body.series)
    .map(([key, columns]) => toChart(key, columns, body.bucketSeconds))
    .sort((a, b) => a.key.localeCompare(b.key));
  return { bucketSeconds: body.bucketSeconds, series };
}

/** A copy of `series` with a live reading merged in: into the last bucket when it falls there (the
 * mean, min and max updated), else as a new bucket starting at `origin + k × bucketSeconds`, after
 * a gap marker when the series had no reading for longer than its gap. Readings older than the
 * last bucket are left out (the next refetch has them). Times in seconds. */
export function appendLive(series: ChartSeries, origin: number, bucketSeconds: number, time: number, value: number): ChartSeries {
  const bucket = origin + Math.floor((time - origin) / bucketSeconds) * bucketSeconds;
  const last = series.t.length - 1;
  const out: ChartSeries = {
    ...series,
    t: [...series.t],
    mean: [...series.mean],
    min: series.min && [...series.min],
    max: series.max && [...series.max],
    count: [...series.count],
  };
  if (last >= 0 && out.count[last]! > 0 && Math.abs(out.t[last]! - bucket) < 1e-3) {
    const n = out.count[last]! + 1;
    out.mean[last] = out.mean[last]! + (value - out.mean[last]!) / n;
    out.count[last] = n;
    if (out.min) out.min[last] = Math.min(out.min[last]!, value);
    if (out.max) out.max[last] = Math.max(out.max[last]!, value);
    return out;
  }
  if (last >= 0 && bucket <= out.t[last]!) return series;
  if (last >= 0 && bucket - out.t[last]! > series.gapSeconds) pushGap(out, (bucket + out.t[last]!) / 2);
  out.t.push(bucket);
  out.mean.push(value);
  out.min?.push(value);
  out.max?.push(value);
  out.count.push(1);
  return out;
}
