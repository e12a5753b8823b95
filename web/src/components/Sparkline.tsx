// A last-hour sparkline on a canvas, redrawn straight from the store when its data changes and the
// card is on screen (no virtual DOM work per live message).
import { effect } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { now, SPARK_BUCKET_MS, SPARK_WINDOW_MS, spark } from '../state/fleet';

// One observer for every sparkline (a page of 500 modules has 2,000 of them).
const onVisibility = new WeakMap<Element, (visible: boolean) => void>();
let observer: IntersectionObserver | null = null;
function watch(element: Element, callback: (visible: boolean) => void): () => void {
  observer ??= new IntersectionObserver((entries) => {
    for (const entry of entries) onVisibility.get(entry.target)?.(entry.isIntersecting);
  });
  onVisibility.set(element, callback);
  observer.observe(element);
  return () => {
    observer!.unobserve(element);
    onVisibility.delete(element);
  };
}

export function Sparkline({ moduleId, sensor }: { moduleId: string; sensor: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current!;
    const s = spark(moduleId, sensor);
    let visible = false;
    let dirty = true;
    const draw = () => {
      if (!visible) return;
      dirty = false;
      const ratio = window.devicePixelRatio || 1;
      const w = canvas.clientWidth;
      const h = canvas.clientHeight;
      if (!w || !h) return;
      if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
      if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
      const ctx = canvas.getContext('2d')!;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const { t, v } = s.data;
      if (!t.length) return;
      // One point per minute (see state/fleet.ts), at the minute's middle; the x axis is the
      // last hour, or less while the module has less history, so the line fills the width.
      const half = SPARK_BUCKET_MS / 2;
      const end = Math.max(now.peek(), t[t.length - 1]! + SPARK_BUCKET_MS);
      const start = Math.max(end - SPARK_WINDOW_MS, t[0]!);
      const span = Math.max(end - start, 1);
      let lo = Infinity;
      let hi = -Infinity;
      for (const x of v) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      if (hi === lo) {
        hi += 1;
        lo -= 1;
      }
      // A sensor slower than a minute leaves minutes empty: only a gap of more than 3 of its own
      // steps (and more than 5 minutes) is drawn as a gap.
      const steps = t.slice(1).map((x, i) => x - t[i]!).sort((a, b) => a - b);
      const gap = Math.max(300_000, 3 * (steps[steps.length >> 1] ?? 0));
      ctx.strokeStyle = getComputedStyle(canvas).color;
      ctx.fillStyle = ctx.strokeStyle;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (let i = 0; i < t.length; i++) {
        const x = Math.min(((t[i]! + half - start) / span) * w, w - 1);
        const y = h - 2 - ((v[i]! - lo) / (hi - lo)) * (h - 4);
        const alone = (i === 0 || t[i]! - t[i - 1]! > gap) && (i === t.length - 1 || t[i + 1]! - t[i]! > gap);
        if (alone) ctx.fillRect(x - 1, y - 1, 2, 2); // a lone reading: a dot, not nothing
        if (i === 0 || t[i]! - t[i - 1]! > gap) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      }
      ctx.stroke();
    };
    const unwatch = watch(canvas, (isVisible) => {
      visible = isVisible;
      if (visible && dirty) draw();
    });
    const stop = effect(() => {
      s.version.value; // subscribe
      dirty = true;
      draw();
    });
    return () => {
      stop();
      unwatch();
    };
  }, [moduleId, sensor]);
  return <canvas class="spark" ref={ref} aria-hidden="true" />;
}
