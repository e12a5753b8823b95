// Logs: device and activity logs with level/module/text filters and a per-hour histogram.
// Uses `/api/logs` when the server has it (issue 15), else the device logs received live.
import { useEffect, useState } from 'preact/hooks';
import { getLogs, type LogEntry } from '../data/logs';
import { connectCount } from '../data/live';
import { liveLogs } from '../state/logs';

const LEVELS = ['', 'debug', 'info', 'warn', 'error'];

function Histogram({ logs }: { logs: LogEntry[] }) {
  if (!logs.length) return null;
  const slots = new Map<number, number>();
  const hour = 3_600_000;
  const newest = Math.max(...logs.map((l) => Date.parse(l.time)));
  const start = Math.floor(newest / hour) * hour - 23 * hour;
  for (let t = start; t <= newest; t += hour) slots.set(t, 0);
  for (const l of logs) {
    const slot = Math.floor(Date.parse(l.time) / hour) * hour;
    if (slots.has(slot)) slots.set(slot, slots.get(slot)! + 1);
  }
  const max = Math.max(1, ...slots.values());
  return (
    <div class="histogram" role="img" aria-label="Log messages per hour, last 24 hours">
      {[...slots].map(([slot, n]) => (
        <div key={slot} class="bar" style={{ height: `${(n / max) * 100}%` }} title={`${new Date(slot).toLocaleString()}: ${n}`} />
      ))}
    </div>
  );
}

export function Logs() {
  const [level, setLevel] = useState('');
  const [moduleId, setModuleId] = useState('');
  const [search, setSearch] = useState('');
  const [server, setServer] = useState<LogEntry[] | null>(null);
  const [available, setAvailable] = useState<boolean | null>(null);
  useEffect(() => {
    let alive = true;
    const timer = setTimeout(async () => {
      try {
        const page = await getLogs({ level: level || undefined, moduleId: moduleId || undefined, search: search || undefined });
        if (!alive) return;
        setAvailable(page !== null);
        setServer(page?.logs ?? null);
      } catch {
        if (alive) setAvailable(false);
      }
    }, 250);
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [level, moduleId, search, connectCount.value]);
  const source = available && server ? server : liveLogs.value;
  const needle = search.toLowerCase();
  const shown = source.filter(
    (l) =>
      (!level || l.level === level) &&
      (!moduleId || (l.moduleId ?? l.source ?? '').includes(moduleId)) &&
      (!needle || `${l.msg} ${l.category ?? ''}`.toLowerCase().includes(needle)),
  );
  return (
    <section class="logs">
      <div class="toolbar">
        <h2>Logs</h2>
        <label>Level <select value={level} onChange={(e) => setLevel(e.currentTarget.value)}>{LEVELS.map((l) => <option key={l} value={l}>{l || 'all'}</option>)}</select></label>
        <label>Module <input type="search" value={moduleId} onInput={(e) => setModuleId(e.currentTarget.value)} /></label>
        <label>Text <input type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} /></label>
      </div>
      {available === false && <p class="muted small">This server has no log API yet: showing device logs received live since this page opened.</p>}
      <Histogram logs={shown} />
      <div class="scroll">
        <table class="log-table">
          <thead><tr><th>Time</th><th>Level</th><th>Source</th><th>Message</th></tr></thead>
          <tbody>
            {shown.slice(0, 500).map((l, i) => (
              <tr key={l.id ?? i} class={`level-${l.level}`}>
                <td class="mono">{new Date(l.time).toLocaleString()}</td>
                <td><span class="tag">{l.level}</span></td>
                <td>{l.moduleId ?? l.source ?? l.category ?? ''}</td>
                <td>{l.msg}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!shown.length && <p class="muted">No log entries.</p>}
      </div>
    </section>
  );
}
