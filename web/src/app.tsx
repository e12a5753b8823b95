// The shell: navigation, connection state, theme, token; the page for the current path.
import { signal } from '@preact/signals';
import { TokenDialog } from './components/TokenDialog';
import { connection } from './data/live';
import { setToken, token } from './data/token';
import { Fleet } from './pages/Fleet';
import { Logs } from './pages/Logs';
import { Module } from './pages/Module';
import { System } from './pages/System';
import { path } from './router';

type Theme = 'light' | 'dark';
const THEME_KEY = 'sensorhub.theme';
const initialTheme = (): Theme => {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
};
export const theme = signal<Theme>(initialTheme());
document.documentElement.dataset.theme = theme.value;

function toggleTheme(): void {
  theme.value = theme.value === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = theme.value;
  localStorage.setItem(THEME_KEY, theme.value);
}

function Page() {
  const p = path.value;
  const module = /^\/modules\/([^/]+)\/?$/.exec(p);
  if (module) return <Module key={module[1]} id={decodeURIComponent(module[1]!)} />;
  if (p === '/system') return <System />;
  if (p === '/logs') return <Logs />;
  if (p === '/' || p === '') return <Fleet />;
  return (
    <section>
      <h2>Not found</h2>
      <p><a href="/">Back to the fleet</a></p>
    </section>
  );
}

const LINKS: [string, string][] = [
  ['/', 'Fleet'],
  ['/system', 'System'],
  ['/logs', 'Logs'],
];

export function App() {
  const state = connection.value;
  const current = path.value;
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="/">sensorhub</a>
        <nav aria-label="Pages">
          {LINKS.map(([href, label]) => (
            <a key={href} href={href} aria-current={(href === '/' ? current === '/' || current.startsWith('/modules/') : current === href) ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="spacer" />
        <span class={`conn conn-${state}`} role="status" aria-live="polite" data-connection={state}>
          {state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        {token.value && (
          <button type="button" class="ghost" onClick={() => setToken(null)} title="Forget the stored access token">
            forget token
          </button>
        )}
        <button type="button" class="ghost" onClick={toggleTheme} aria-label={`Switch to ${theme.value === 'dark' ? 'light' : 'dark'} theme`}>
          {theme.value === 'dark' ? '☀' : '☾'}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
      <TokenDialog />
    </>
  );
}
