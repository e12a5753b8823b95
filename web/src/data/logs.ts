// Activity and device logs (issue 15, the seed's `GET /api/logs`, `/api/logs/histogram`): not in
// the generated client yet; null when the server answers 404 (the page then shows live logs only).
import { optionalJson } from './http';

export interface LogEntry {
  id?: string | number;
  time: string;
  level: string;
  category?: string | null;
  source?: string | null;
  msg: string;
  moduleId?: string | null;
  details?: Record<string, unknown> | null;
}

export interface LogPage {
  logs: LogEntry[];
  total: number;
}

export interface LogFilter {
  level?: string;
  moduleId?: string;
  search?: string;
  limit?: number;
}

function query(filter: LogFilter): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filter)) if (value !== undefined && value !== '') params.set(key, String(value));
  return params.toString();
}

export const getLogs = (filter: LogFilter): Promise<LogPage | null> =>
  optionalJson<LogPage>('/api/logs', `/api/logs?${query({ limit: 200, ...filter })}`);

export interface HistogramSlot {
  slot: string;
  counts: Record<string, number>;
}

export const getLogHistogram = (filter: LogFilter): Promise<HistogramSlot[] | null> =>
  optionalJson<HistogramSlot[]>('/api/logs/histogram', `/api/logs/histogram?${query({ level: filter.level, search: filter.search })}`);
