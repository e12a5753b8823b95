// System page data: storage, database size, sampled ingest rate, and Prometheus /metrics.
import {
  systemGetDbSize,
  systemGetMetricsHistory,
  systemGetStorage,
  systemReady,
} from '../client/sdk.gen';
import type { DbSize, MetricsHistory, Readiness, StorageReport } from '../client/types.gen';
import { ApiError, authHeaders, authorized } from './http';

export type { DbSize, MetricsHistory, Readiness, StorageReport };

export const getStorage = (): Promise<StorageReport> => authorized(() => systemGetStorage());
export const getDbSize = (): Promise<DbSize> => authorized(() => systemGetDbSize());
export const getMetricsHistory = (days: number): Promise<MetricsHistory> =>
  authorized(() => systemGetMetricsHistory({ query: { days } }));

/** Readiness answers 503 with the same body when not ready: return it either way. */
export async function getReadiness(): Promise<Readiness | null> {
  const result = await systemReady();
  return (result.data ?? (result.error as Readiness | undefined)) ?? null;
}

/** One Prometheus sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the Prometheus text format (enough of it for sensorhub's own metrics). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  const line = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
  const label = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  for (const row of text.split('\n')) {
    if (!row || row.startsWith('#')) continue;
    const m = line.exec(row);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(label)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export async function getMetrics(): Promise<Sample[]> {
  // /metrics is text/plain; the generated client would try JSON, so fetch it directly.
  const response = await fetch('/metrics', { headers: authHeaders() });
  if (!response.ok) throw new ApiError(response.status, `HTTP ${response.status}`);
  return parseMetrics(await response.text());
}

export const total = (samples: Sample[], name: string): number =>
  samples.filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);

export function byLabel(samples: Sample[], name: string, key: string): [string, number][] {
  const out = new Map<string, number>();
  for (const s of samples) if (s.name === name) out.set(s.labels[key] ?? '', (out.get(s.labels[key] ?? '') ?? 0) + s.value);
  return [...out].sort((a, b) => b[1] - a[1]);
}
