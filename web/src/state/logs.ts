// Device logs received live since the page opened (the Logs page falls back to these when the
// server has no `/api/logs` yet).
import { signal } from '@preact/signals';
import type { LogEntry } from '../data/logs';
import { onLive } from '../data/live';

const KEEP = 2000;
export const liveLogs = signal<LogEntry[]>([]);

onLive((batch) => {
  const fresh: LogEntry[] = [];
  for (const m of batch) {
    if (m.kind !== 'log') continue;
    const meta = m.metadata ?? {};
    fresh.push({
      time: m.time,
      level: String(meta.level ?? 'info'),
      msg: String(meta.msg ?? meta.message ?? ''),
      moduleId: m.moduleId,
      category: 'DEVICE',
      source: m.moduleId,
    });
  }
  if (fresh.length) liveLogs.value = [...fresh.reverse(), ...liveLogs.peek()].slice(0, KEEP);
});
