// Logs: sensorhub's activity log and the modules' log lines (`/api/logs`), with level, module and
// text filters, and the last 24 hours per 10-minute slot (`/api/logs/histogram`). A module's new
// log line (live) refetches the page, at most every 5 s.
import { useEffect, useState } from 'preact/hooks';
import { connectCount, onLive } from '../data/live';
import { getLogHistogram, getLogs, type HistogramSlot, type Level, LEVELS, type LogPage, moduleOf } from '../data/logs';
import { modules } from '../state/fleet';

function Histogram({ slots }: { slots: HistogramSlot[] }) {
  if (!slots.length) return null;
  const totals = slots.map((s) => Object.values(s.counts).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const all = totals.reduce((a, b) => a + b, 0);
  return (
    <div class="histogram" role="img" aria-label={`Log entries per 10 minutes, last 24 hours: ${all} in all`}>
      {slots.map((s, i) => (
        <div
          key={s.slot}
          class="bar"
          data-count={totals[i]}
          style={{ height: `${(totals[i]! / max) * 100}%` }}
          title={`${new Date(s.slot).toLocaleString()}: ${Object.entries(s.counts).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}`}
        />
      ))}
    </div>
  );
}

export function Logs() {
  const [level, setLevel] = useState<Level | ''>('');
  const [moduleId, setModuleId] = useState('');
  const [search, setSearch] = useState('');
  const [page, setPage] = useState<LogPage | null>(null);
  const [slots, setSlots] = useState<HistogramSlot[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [fresh, setFresh] = useState(0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = onLive((batch) => {
      if (batch.some((m) => m.kind === 'log')) timer ??= setTimeout(() => ((timer = undefined), setFresh((n) => n + 1)), 5000);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, []);
  useEffect(() => {
    let alive = true;
    const filter = { level: level || undefined, moduleId, search };
    // Typing in the text box: wait for a pause before asking.
    const timer = setTimeout(async () => {
      try {
        const [logs, histogram] = await Promise.all([getLogs(filter), getLogHistogram(filter)]);
        if (!alive) return;
        setPage(logs);
        setSlots(histogram);
        setError(null);
      } catch (e) {
        if (alive) setError(e instanceof Error ? e.message : String(e));
      }
    }, 250);
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [level, moduleId, search, fresh, connectCount.value]);
  return (
    <section class="logs">
      <div class="toolbar">
        <h2>Logs</h2>
        <label>
          Level{' '}
          <select value={level} onChange={(e) => setLevel(e.currentTarget.value as Level | '')}>
            <option value="">all</option>
            {LEVELS.map((l) => <option key={l} value={l}>{l}</option>)}
          </select>
        </label>
        <label>
          Module{' '}
          <select value={moduleId} onChange={(e) => setModuleId(e.currentTarget.value)}>
            <option value="">all</option>
            {modules.value.map((m) => <option key={m.id} value={m.id}>{m.name ?? m.id}</option>)}
          </select>
        </label>
        <label>Text <input type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} /></label>
        {page && <span class="muted" aria-live="polite">{page.total} entries</span>}
      </div>
      {error && <p class="error">Cannot load logs: {error}</p>}
      <Histogram slots={slots} />
      <div class="scroll">
        <table class="log-table">
          <thead><tr><th>Time</th><th>Level</th><th>Category</th><th>Module</th><th>Message</th></tr></thead>
          <tbody>
            {page?.logs.map((l) => (
              <tr key={l.id} class={`level-${l.level}`}>
                <td class="mono">{new Date(l.time).toLocaleString()}</td>
                <td><span class="tag">{l.level}</span></td>
                <td>{l.category}{l.direction ? ` ${l.direction}` : ''}{l.source === 'USER' ? ' · user' : ''}</td>
                <td>{moduleOf(l) ?? ''}</td>
                <td>{l.msg}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && !page.logs.length && <p class="muted">No log entries.</p>}
        {page && page.total > page.logs.length && <p class="muted small">Newest {page.logs.length} of {page.total}; narrow the filters to see older ones.</p>}
      </div>
    </section>
  );
}
