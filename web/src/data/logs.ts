// Logs (`GET /api/logs`, `/api/logs/histogram`): sensorhub's activity log and the modules'
// `{id}/logs` lines together, newest first; the histogram counts entries per 10-minute slot.
import { logsGetLogs, logsGetLogsHistogram } from '../client/sdk.gen';
import type { HistogramSlot, Level, LogEntry, LogPage } from '../client/types.gen';
import { authorized } from './http';

export type { HistogramSlot, Level, LogEntry, LogPage };

export const LEVELS: Level[] = ['trace', 'debug', 'success', 'info', 'warn', 'error', 'fatal'];

export interface LogFilter {
  level?: Level;
  moduleId?: string;
  search?: string;
}

const query = (filter: LogFilter) => ({
  level: filter.level ? [filter.level] : undefined,
  moduleId: filter.moduleId || undefined,
  search: filter.search || undefined,
});

export const getLogs = (filter: LogFilter, limit = 200, offset = 0): Promise<LogPage> =>
  authorized(() => logsGetLogs({ query: { ...query(filter), limit, offset } }));

/** The last 24 hours in 10-minute slots, counts per category. */
export const getLogHistogram = (filter: LogFilter): Promise<HistogramSlot[]> =>
  authorized(() => logsGetLogsHistogram({ query: query(filter) }));

/** The module an entry is about (activity entries and module lines carry it in `details`). */
export const moduleOf = (entry: LogEntry): string | null => {
  const id = entry.details?.moduleId;
  return typeof id === 'string' ? id : null;
};
