// System: ingest rate, rejections, buffer and spool, database and table sizes, TimescaleDB state,
// live clients. Polls every 5 s; each section hides itself when its endpoint is missing.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { bytes } from '../components/format';
import { connection } from '../data/live';
import {
  byLabel,
  type DbSize,
  getDbSize,
  getMetrics,
  getMetricsHistory,
  getReadiness,
  getStorage,
  type MetricsHistory,
  type Readiness,
  type Sample,
  type StorageReport,
  total,
} from '../data/system';

interface State {
  storage?: StorageReport | null;
  dbSize?: DbSize | null;
  history?: MetricsHistory | null;
  metrics?: Sample[] | null;
  ready?: Readiness | null;
  rate?: number | null;
}

const settle = <T,>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

/** A table name with a line-break opportunity after each underscore (and nowhere else). */
function breakAtUnderscores(name: string) {
  return name.split('_').map((part, i, all) => (i < all.length - 1 ? [`${part}_`, <wbr key={i} />] : part));
}

function RateChart({ history }: { history: MetricsHistory }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current!;
    const style = getComputedStyle(document.documentElement);
    const color = (name: string) => style.getPropertyValue(name).trim();
    const t = history.samples.map((s) => Date.parse(s.time) / 1000);
    const axis = { stroke: color('--muted'), grid: { stroke: color('--grid') }, ticks: { stroke: color('--grid') } };
    const plot = new uPlot(
      {
        width: element.clientWidth || 600,
        height: 180,
        // The whole day the title names, however few samples there are yet (a fresh server's
        // few minutes spread over the width got second ticks whose labels overlapped).
        scales: { x: { time: true, range: () => [Date.now() / 1000 - 86_400, Date.now() / 1000] } },
        series: [{}, { label: 'stored/s', stroke: color('--accent'), width: 1.5 }],
        axes: [axis, { ...axis, size: 56 }],
      },
      [t, history.samples.map((s) => s.ingestRate)],
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: 180 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [history]);
  return <div ref={box} class="plot" />;
}

export function System() {
  const [state, setState] = useState<State>({});
  const previous = useRef<{ stored: number; at: number } | null>(null);
  useEffect(() => {
    let alive = true;
    const load = async () => {
      const [storage, dbSize, history, metrics, ready] = await Promise.all([
        settle(getStorage()),
        settle(getDbSize()),
        settle(getMetricsHistory(1)),
        settle(getMetrics()),
        settle(getReadiness()),
      ]);
      if (!alive) return;
      let rate: number | null = null;
      if (metrics) {
        const stored = total(metrics, 'sensorhub_measurements_stored_total');
        const at = performance.now();
        if (previous.current && at > previous.current.at) rate = ((stored - previous.current.stored) * 1000) / (at - previous.current.at);
        previous.current = { stored, at };
      }
      setState((old) => ({ storage, dbSize, history, metrics, ready, rate: rate ?? old.rate ?? null }));
    };
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, []);
  const { storage, dbSize, history, metrics, ready, rate } = state;
  const ts = storage?.timescaledb;
  const rejected = metrics ? byLabel(metrics, 'sensorhub_messages_rejected_total', 'reason') : [];
  return (
    <section class="system">
      <div class="toolbar"><h2>System</h2></div>
      <div class="stats">
        <div class="stat"><span>Ingest rate</span><strong data-stat="rate">{rate == null ? '–' : `${rate.toFixed(1)}/s`}</strong><small>measurements stored per second (last 5 s)</small></div>
        {metrics && <div class="stat"><span>Buffer</span><strong>{total(metrics, 'sensorhub_buffer_depth')}</strong><small>messages waiting for the next flush</small></div>}
        {metrics && <div class="stat"><span>Spool</span><strong>{bytes(total(metrics, 'sensorhub_spool_bytes'))}</strong><small>waiting for PostgreSQL</small></div>}
        {metrics && <div class="stat"><span>Live clients</span><strong data-stat="clients">{total(metrics, 'sensorhub_socketio_clients')}</strong><small>Socket.IO connections (this page: {connection.value})</small></div>}
        {dbSize && <div class="stat"><span>Database</span><strong>{dbSize.totalSize}</strong><small>{storage ? `${storage.measurements.count.toLocaleString()}${storage.measurements.countIsEstimate ? ' ≈' : ''} readings` : ''}</small></div>}
        {ready && <div class="stat"><span>Readiness</span><strong>{ready.status}</strong><small>database {ready.database ? 'up' : 'down'} · broker {ready.broker ? 'up' : 'down'}</small></div>}
      </div>
      <div class="panels">
        {history && (
          <section class="panel wide">
            <h3>Ingest rate, last 24 h</h3>
            {history.samples.length > 1 ? <RateChart history={history} /> : <p class="muted">Not enough samples yet (one per sampling interval).</p>}
          </section>
        )}
        {metrics && (
          <section class="panel">
            <h3>Messages</h3>
            <dl class="info">
              <div><dt>received</dt><dd>{total(metrics, 'sensorhub_messages_received_total').toLocaleString()}</dd></div>
              <div><dt>stored</dt><dd>{total(metrics, 'sensorhub_measurements_stored_total').toLocaleString()}</dd></div>
              <div><dt>spooled</dt><dd>{total(metrics, 'sensorhub_measurements_spooled_total').toLocaleString()}</dd></div>
              <div><dt>write errors</dt><dd>{total(metrics, 'sensorhub_db_write_errors_total').toLocaleString()}</dd></div>
              <div><dt>live events dropped</dt><dd>{total(metrics, 'sensorhub_socketio_events_dropped_total').toLocaleString()}</dd></div>
            </dl>
            <h4>Rejections by reason</h4>
            {rejected.length ? (
              <table><tbody>{rejected.map(([reason, n]) => <tr key={reason}><th scope="row">{reason}</th><td class="num">{n.toLocaleString()}</td></tr>)}</tbody></table>
            ) : <p class="muted">None.</p>}
          </section>
        )}
        {storage && (
          <section class="panel">
            <h3>Storage</h3>
            <p>{storage.storage === 'timescaledb' ? `TimescaleDB ${storage.timescaledbVersion ?? ''}` : 'Plain PostgreSQL'} · {storage.databaseSize}</p>
            <div class="scroll">
              <table class="storage-table">
                <thead><tr><th>Table</th><th class="num">Size</th></tr></thead>
                <tbody>{storage.tables.map((t) => <tr key={t.name}><th scope="row">{breakAtUnderscores(t.name)}</th><td class="num">{t.size}</td></tr>)}</tbody>
              </table>
            </div>
            {storage.rollupPendingBuckets != null && <p class="muted small">Hourly rollup: {storage.rollupPendingBuckets} buckets pending.</p>}
          </section>
        )}
        {ts && (
          <section class="panel">
            <h3>TimescaleDB</h3>
            <dl class="info">
              <div><dt>hypertable</dt><dd>{ts.hypertableSize}</dd></div>
              <div><dt>chunks</dt><dd>{ts.compressedChunkCount} of {ts.chunkCount} compressed</dd></div>
              <div><dt>compression</dt><dd>{ts.compressionRatio ? `${ts.compressionRatio.toFixed(1)}× (${ts.compressionSavedPercent?.toFixed(0)}% saved)` : '–'}</dd></div>
            </dl>
            <table>
              <thead><tr><th>Policy</th><th>Last run</th><th>Next</th></tr></thead>
              <tbody>{ts.policies.map((p) => <tr key={p.jobId}><th scope="row">{p.kind}</th><td>{p.lastRunStatus ?? '–'}</td><td>{p.nextStart ? new Date(p.nextStart).toLocaleString() : '–'}</td></tr>)}</tbody>
            </table>
          </section>
        )}
      </div>
    </section>
  );
}
