// Fleet: one card per module, grouped by zone, live values and last-hour sparklines, a filter box.
import { useComputed, useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { Sparkline } from '../components/Sparkline';
import { ago, formatValue, unitOf } from '../components/format';
import type { ModuleSummary } from '../data/modules';
import { modulePath } from '../router';
import { loaded, modules, modulesError, now, reading, seen, wantSparklines, zones } from '../state/fleet';

const ONLINE_GRACE_MS = 300_000;

function Value({ moduleId, sensor }: { moduleId: string; sensor: string }) {
  const r = reading(moduleId, sensor);
  const text = useComputed(() => (r.value ? formatValue(r.value.value) : '–'));
  return (
    <span class="value" data-sensor={sensor}>
      {text}
      <small>{unitOf(sensor)}</small>
    </span>
  );
}

function Seen({ module }: { module: ModuleSummary }) {
  const last = seen(module);
  const online = module.online || (last.value !== null && now.value - last.value < ONLINE_GRACE_MS);
  return (
    <p class="seen">
      <span class={online ? 'dot on' : 'dot off'} />
      <span class="state">{online ? 'online' : 'offline'}</span> · {ago(last.value, now.value)}
    </p>
  );
}

let cardObserver: IntersectionObserver | null = null;
function observeCard(element: Element): () => void {
  cardObserver ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries)
        if (entry.isIntersecting) wantSparklines((entry.target as HTMLElement).dataset.module!);
    },
    { rootMargin: '200px' },
  );
  cardObserver.observe(element);
  return () => cardObserver!.unobserve(element);
}

function Card({ module }: { module: ModuleSummary }) {
  const ref = useRef<HTMLAnchorElement>(null);
  useEffect(() => observeCard(ref.current!), [module.id]);
  return (
    <a class="card" href={modulePath(module.id)} ref={ref} data-module={module.id}>
      <header>
        <h3>{module.name ?? module.id}</h3>
        {module.type && <span class="tag">{module.type}</span>}
      </header>
      {module.name && module.name !== module.id && <p class="muted mono">{module.id}</p>}
      <Seen module={module} />
      <ul class="sensors">
        {module.sensors.length === 0 && <li class="muted">no sensors yet</li>}
        {module.sensors.map((sensor) => (
          <li key={sensor}>
            <span class="name">{sensor}</span>
            <Sparkline moduleId={module.id} sensor={sensor} />
            <Value moduleId={module.id} sensor={sensor} />
          </li>
        ))}
      </ul>
    </a>
  );
}

export function Fleet() {
  const filter = useSignal('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === '/' && document.activeElement?.tagName !== 'INPUT') {
        event.preventDefault();
        input.current?.focus();
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
  const groups = useComputed(() => {
    const needle = filter.value.trim().toLowerCase();
    const zoneMap = zones.value;
    const out = new Map<string, ModuleSummary[]>();
    for (const m of modules.value) {
      // One group while no zone exists; else a group per zone, and "No zone" for the others.
      const zone = !zoneMap?.size ? 'All modules' : ((m.zoneId && zoneMap.get(m.zoneId)?.name) || 'No zone');
      if (needle) {
        const hay = `${m.id} ${m.name ?? ''} ${m.type ?? ''} ${zone} ${m.sensors.join(' ')}`.toLowerCase();
        if (!hay.includes(needle)) continue;
      }
      let list = out.get(zone);
      if (!list) out.set(zone, (list = []));
      list.push(m);
    }
    for (const list of out.values()) list.sort((a, b) => (a.name ?? a.id).localeCompare(b.name ?? b.id));
    return [...out].sort(([a], [b]) => (a === 'No zone' ? 1 : b === 'No zone' ? -1 : a.localeCompare(b)));
  });
  const count = modules.value.length;
  const shown = groups.value.reduce((n, [, list]) => n + list.length, 0);
  return (
    <section>
      <div class="toolbar">
        <h2>Fleet</h2>
        <input
          ref={input}
          type="search"
          placeholder="Filter modules, zones, sensors ( / )"
          aria-label="Filter modules"
          value={filter.value}
          onInput={(e) => (filter.value = e.currentTarget.value)}
        />
        <span class="muted" aria-live="polite">
          {shown === count ? `${count} modules` : `${shown} of ${count} modules`}
        </span>
      </div>
      {modulesError.value && <p class="error">Cannot load modules: {modulesError.value}</p>}
      {loaded.value && count === 0 && !modulesError.value && (
        <p class="empty">No module has published yet. Modules appear here as soon as they do.</p>
      )}
      {groups.value.map(([zone, list]) => (
        <section key={zone} class="zone" aria-label={zone}>
          <h2 class="zone-title">
            {zone} <span class="muted">{list.length}</span>
          </h2>
          <div class="grid">
            {list.map((m) => (
              <Card key={m.id} module={m} />
            ))}
          </div>
        </section>
      ))}
    </section>
  );
}
