import { effect } from '@preact/signals';
import { render } from 'preact';
import { App } from './app';
import { connect, connectCount } from './data/live';
import { refreshModules, resetSparklines, modules } from './state/fleet';
import './styles.css';

render(<App />, document.getElementById('app')!);
connect();
void refreshModules();
setInterval(() => void refreshModules(), 60_000);

// After a reconnect, refetch what may have been missed: the module list and the sparklines.
let first = true;
effect(() => {
  connectCount.value;
  if (first) {
    first = false;
    return;
  }
  void refreshModules();
  resetSparklines(
    [...document.querySelectorAll<HTMLElement>('.card[data-module]')]
      .filter((el) => {
        const r = el.getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight;
      })
      .map((el) => el.dataset.module!)
      .filter((id) => modules.peek().some((m) => m.id === id)),
  );
});
