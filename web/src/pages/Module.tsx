// Module: device information, desired vs reported configuration (edit, enable, zone, delete) and
// a chart per sensor and hardware id over a chosen range.
import { useSignal } from '@preact/signals';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { Chart } from '../components/Chart';
import { ago, formatValue, unitOf } from '../components/format';
import { ApiError } from '../data/http';
import { connectCount, onConfigUpdate, onLive } from '../data/live';
import { deleteModule, type DeviceView, getDevice, type SensorView, setHardwareEnabled, updateConfig } from '../data/modules';
import { appendLive, getSeries, parseKey, type SeriesResult } from '../data/series';
import { assignZone, clearZone, createZone, listZones, type Zone } from '../data/zones';
import { navigate } from '../router';
import { now, reading, refreshModules, seriesKeyOf } from '../state/fleet';

const RANGES: [label: string, seconds: number][] = [
  ['1 h', 3600],
  ['24 h', 86_400],
  ['7 d', 7 * 86_400],
  ['30 d', 30 * 86_400],
];

const NEW_ZONE = '\u0000new';

type Range = { preset: number } | { from: number; to: number };

const resolution = (seconds: number): string =>
  seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const localInput = (seconds: number): string => {
  const d = new Date(seconds * 1000);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** The current value: the latest live reading when newer than the status, else the status's. */
function Current({ moduleId, sensor }: { moduleId: string; sensor: SensorView }) {
  const live = reading(moduleId, parseKey(sensor.type).sensorType).value;
  const value = live?.value ?? sensor.value;
  return (
    <span class="current" data-sensor={sensor.type}>
      {value !== null ? `${formatValue(value)} ${unitOf(sensor.type)}` : '–'}
    </span>
  );
}

function SensorRow({ device, sensor, hardware, onSaved }: { device: DeviceView; sensor: SensorView; hardware: string | null; onSaved: (text: string) => void }) {
  const [interval, setInterval] = useState(String(sensor.desired?.interval ?? sensor.reported?.interval ?? ''));
  const [model, setModel] = useState(sensor.desired?.model ?? sensor.reported?.model ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setInterval(String(sensor.desired?.interval ?? sensor.reported?.interval ?? ''));
    setModel(sensor.desired?.model ?? sensor.reported?.model ?? '');
  }, [sensor.desired?.interval, sensor.desired?.model]);
  const save = async (event: Event) => {
    event.preventDefault();
    const seconds = Number(interval);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
      setError('interval: a whole number of seconds, 1 to 86400');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await updateConfig(device.id, { [sensor.type]: { interval: seconds, model: model.trim() || null } });
      onSaved(`${sensor.type}: configuration stored and published`);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 503 ? `stored; ${e.message}` : message(e));
    } finally {
      setBusy(false);
    }
  };
  const toggle = async () => {
    if (!hardware) return;
    setBusy(true);
    try {
      await setHardwareEnabled(device.id, hardware, !sensor.enabled);
      onSaved(`${hardware}: ${sensor.enabled ? 'disable' : 'enable'} sent`);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  // pending: desired not reported back yet; applied: the module reports the desired setting;
  // reported: the module's own setting, nothing desired stored for it.
  const state = sensor.pending ? 'pending' : sensor.desired ? 'applied' : 'reported';
  return (
    <tr data-sensor={sensor.type}>
      <th scope="row">{sensor.type}</th>
      <td>
        <Current moduleId={device.id} sensor={sensor} />
        {sensor.status && <span class={`tag ${sensor.status === 'ok' ? '' : 'warn'}`}>{sensor.status}</span>}
      </td>
      <td>
        <form class="inline" onSubmit={save}>
          <label>
            <span class="sr">interval of {sensor.type} (s)</span>
            <input name="interval" type="number" min={1} max={86400} step={1} value={interval} onInput={(e) => setInterval(e.currentTarget.value)} />
          </label>
          <label>
            <span class="sr">model of {sensor.type}</span>
            <input name="model" type="text" maxLength={64} placeholder="model" value={model} onInput={(e) => setModel(e.currentTarget.value)} />
          </label>
          <button type="submit" disabled={busy}>Save</button>
        </form>
        {error && <p class="error" role="alert">{error}</p>}
      </td>
      <td>
        <span class={`tag state-${state}`} data-state={state} title={sensor.reported ? `reported: ${sensor.reported.interval ?? '–'} s ${sensor.reported.model ?? ''}` : 'the module has not reported this setting'}>
          {state}
        </span>
        {sensor.reported && (
          <small class="muted"> module: {sensor.reported.interval ?? '–'} s{sensor.reported.model ? ` · ${sensor.reported.model}` : ''}</small>
        )}
      </td>
      <td>
        {hardware ? (
          <button type="button" disabled={busy} onClick={toggle} class="small" title={`start or stop ${hardware} (every sensor of it)`}>
            {sensor.enabled ? 'Disable' : 'Enable'} {hardware}
          </button>
        ) : (
          <span class="muted" title="no reading names this sensor's hardware yet">–</span>
        )}
      </td>
    </tr>
  );
}

export function Module({ id }: { id: string }) {
  const [device, setDevice] = useState<DeviceView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [range, setRange] = useState<Range>({ preset: 86_400 });
  const [history, setHistory] = useState<(SeriesResult & { from: number; to: number; origin: number }) | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const [zoneList, setZones] = useState<Zone[] | null>(null);
  const notice = useSignal<string | null>(null);
  const confirmDialog = useRef<HTMLDialogElement>(null);

  const loadDevice = useCallback(async () => {
    try {
      setDevice(await getDevice(id));
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 404 ? 'This module is unknown (deleted, or it never published).' : message(e));
    }
  }, [id]);

  const loadHistory = useCallback(async () => {
    // The API aligns its buckets on `from`, and live readings join those buckets. A `from` on a
    // whole minute lets it read the minute rollup instead of raw rows (docs/contract.md).
    const to = Math.ceil('preset' in range ? Date.now() / 1000 : range.to);
    const from = Math.floor(('preset' in range ? to - range.preset : range.from) / 60) * 60;
    try {
      const result = await getSeries(id, new Date(from * 1000), new Date(to * 1000));
      setHistory({ ...result, from, to, origin: from }); // buckets start at `origin`
      setHistoryError(null);
    } catch (e) {
      setHistoryError(message(e));
    }
  }, [id, range]);

  useEffect(() => {
    void loadDevice();
    void listZones().then(setZones, () => setZones(null));
  }, [id, connectCount.value]);
  useEffect(() => void loadHistory(), [loadHistory, connectCount.value]);

  // Live readings extend the charts of a range that ends now, merged into the buckets of the
  // fetched resolution (so a fast sensor does not pile raw points at the right edge).
  useEffect(() => {
    if (!('preset' in range)) return;
    return onLive((batch) => {
      const mine = batch.filter((m) => m.moduleId === id && m.kind === 'measurement' && typeof m.value === 'number');
      if (!mine.length) return;
      setHistory((old) => {
        if (!old || !old.bucketSeconds) return old;
        const bucketSeconds = old.bucketSeconds;
        let series = old.series;
        for (const m of mine) {
          const key = seriesKeyOf(m.topic);
          const at = series.findIndex((s) => s.key === key);
          if (at < 0) continue; // a new series: the next refetch draws it
          const next = appendLive(series[at]!, old.origin, bucketSeconds, Date.parse(m.time) / 1000, m.value!);
          if (next !== series[at]) series = series.map((s, i) => (i === at ? next : s));
        }
        const to = Math.max(old.to, Date.now() / 1000);
        return series === old.series && to === old.to ? old : { ...old, series, to, from: old.from + (to - old.to) };
      });
    });
  }, [id, range]);

  // Configuration reports and pushes change the desired/reported state: refetch, at most every 1 s.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const soon = () => (timer ??= setTimeout(() => ((timer = undefined), void loadDevice()), 1000));
    const offLive = onLive((batch) => {
      if (batch.some((m) => m.moduleId === id && m.kind !== 'measurement' && m.kind !== 'log')) soon();
    });
    const offConfig = onConfigUpdate((u) => u.moduleId === id && soon());
    return () => {
      offLive();
      offConfig();
      clearTimeout(timer);
    };
  }, [id, loadDevice]);

  const saved = (text: string) => {
    notice.value = text;
    void loadDevice();
  };

  const changeZone = async (choice: string) => {
    try {
      let zoneId = choice;
      if (choice === NEW_ZONE) {
        const name = window.prompt('Name of the new zone')?.trim();
        if (!name) return;
        zoneId = (await createZone(name)).id;
      }
      if (zoneId) await assignZone(zoneId, id);
      else await clearZone(id);
      setZones(await listZones());
      notice.value = 'zone updated';
      await Promise.all([refreshModules(), loadDevice()]);
    } catch (e) {
      notice.value = `zone not changed: ${message(e)}`;
    }
  };

  const remove = async () => {
    confirmDialog.current?.close();
    try {
      await deleteModule(id);
      await refreshModules();
      navigate('/');
    } catch (e) {
      notice.value = `not deleted: ${message(e)}`;
    }
  };

  if (error) return <section><p><a href="/">← Fleet</a></p><p class="error">{error}</p></section>;
  if (!device) return <section><p class="muted">Loading {id}…</p></section>;
  const zone = zoneList?.find((z) => z.name === device.zone);
  // The hardware of each sensor type, from the series keys (`dht22:temperature`).
  const hardwareOf = new Map<string, string>();
  for (const s of history?.series ?? []) if (s.hardware && !hardwareOf.has(s.sensorType)) hardwareOf.set(s.sensorType, s.hardware);
  const active = 'preset' in range ? range.preset : null;
  return (
    <section class="module">
      <p><a href="/">← Fleet</a></p>
      <div class="toolbar">
        <h2>{device.name ?? device.id}</h2>
        {device.moduleType && <span class="tag">{device.moduleType}</span>}
        <span class="seen"><span class={device.online ? 'dot on' : 'dot off'} /> {device.online ? 'online' : 'offline'} · {ago(device.lastSeen ? Date.parse(device.lastSeen) : null, now.value)}</span>
        <span class="spacer" />
        {zoneList && (
          <label>
            Zone{' '}
            <select value={zone?.id ?? ''} onChange={(e) => void changeZone(e.currentTarget.value)}>
              <option value="">none</option>
              {zoneList.map((z) => <option key={z.id} value={z.id}>{z.name}</option>)}
              <option value={NEW_ZONE}>new zone…</option>
            </select>
          </label>
        )}
        <button type="button" class="danger" onClick={() => confirmDialog.current?.showModal()}>Delete…</button>
      </div>
      {device.name && device.name !== device.id && <p class="muted mono">{device.id}</p>}
      {notice.value && <p class="notice" role="status">{notice.value}</p>}

      <section class="panel">
        <div class="toolbar">
          <h3>History</h3>
          <div class="segmented" role="group" aria-label="Range">
            {RANGES.map(([label, seconds]) => (
              <button key={label} type="button" aria-pressed={active === seconds} onClick={() => setRange({ preset: seconds })}>{label}</button>
            ))}
          </div>
          <form class="inline" onSubmit={(e) => {
            e.preventDefault();
            const form = new FormData(e.currentTarget);
            const from = Date.parse(String(form.get('from'))) / 1000;
            const to = Date.parse(String(form.get('to'))) / 1000;
            if (from < to) setRange({ from, to });
          }}>
            <label>from <input name="from" type="datetime-local" value={history ? localInput(history.from) : ''} /></label>
            <label>to <input name="to" type="datetime-local" value={history ? localInput(history.to) : ''} /></label>
            <button type="submit">Show</button>
          </form>
          {history?.bucketSeconds && <span class="muted">resolution: {resolution(history.bucketSeconds)}</span>}
        </div>
        <p class="muted small">Drag across a chart to zoom into that range.</p>
        {historyError && <p class="error">{historyError}</p>}
        {history && history.series.length === 0 && <p class="muted">No readings in this range.</p>}
        <div class="charts">
          {history?.series.map((s) => (
            <Chart key={s.key} series={s} from={history.from} to={history.to} onZoom={(from, to) => setRange({ from, to })} />
          ))}
        </div>
      </section>

      <div class="panels">
        <section class="panel">
          <h3>Device</h3>
          {device.info.length ? (
            <dl class="info">
              {device.info.map(([label, value]) => (
                <div key={label}><dt>{label}</dt><dd>{value}</dd></div>
              ))}
            </dl>
          ) : <p class="muted">The module has not reported system information yet.</p>}
        </section>
        <section class="panel wide">
          <h3>Sensors and configuration</h3>
          {device.sensors.length === 0 ? <p class="muted" data-empty="sensors">No readings yet.</p> : <>
          <p class="muted small">Desired configuration is published retained to <code>{device.id}/sensors/config</code>; it is <em>pending</em> until the module reports it back.</p>
          <div class="scroll">
            <table class="sensors-table">
              <thead><tr><th>Sensor</th><th>Value</th><th>Desired interval (s) / model</th><th>State</th><th>Hardware</th></tr></thead>
              <tbody>
                {device.sensors.map((s) => {
                  const names = parseKey(s.type);
                  return <SensorRow key={s.type} device={device} sensor={s} hardware={names.hardware ?? hardwareOf.get(names.sensorType) ?? null} onSaved={saved} />;
                })}
              </tbody>
            </table>
          </div>
          </>}
        </section>
      </div>

      <dialog ref={confirmDialog} aria-labelledby="confirm-title">
        <form method="dialog">
          <h3 id="confirm-title">Delete {device.name ?? device.id}?</h3>
          <p>Its readings, status and configuration are deleted, and its retained configuration is cleared from the broker. A module that publishes again reappears.</p>
          <menu>
            <button value="cancel" autofocus>Cancel</button>
            <button type="button" class="danger" onClick={() => void remove()}>Delete module</button>
          </menu>
        </form>
      </dialog>
    </section>
  );
}
