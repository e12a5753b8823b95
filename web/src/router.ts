// A tiny history-API router: the server answers index.html for these paths (SPA fallback).
import { signal } from '@preact/signals';

export const path = signal(location.pathname);

export function navigate(to: string): void {
  if (to === location.pathname) return;
  history.pushState(null, '', to);
  path.value = location.pathname;
  window.scrollTo(0, 0);
}

addEventListener('popstate', () => (path.value = location.pathname));

/** Follow same-origin <a href="/…"> clicks without reloading (modifier clicks open new tabs). */
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element).closest?.('a');
  if (!link || link.target || link.origin !== location.origin || link.hasAttribute('download')) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});

export const modulePath = (id: string): string => `/modules/${encodeURIComponent(id)}`;
