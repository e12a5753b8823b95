// One uPlot chart for one series: mean line, min–max band when aggregated, nulls drawn as gaps.
// Dragging across the chart selects a range: `onZoom` refetches it at finer resolution.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ChartSeries } from '../data/series';
import { unitOf } from './format';

interface Props {
  series: ChartSeries;
  from: number;
  to: number;
  onZoom: (from: number, to: number) => void;
}

const css = (name: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function columns(series: ChartSeries): uPlot.AlignedData {
  return series.min && series.max
    ? [series.t, series.mean, series.min, series.max]
    : [series.t, series.mean];
}

export function Chart({ series, from, to, onZoom }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoom = useRef(onZoom);
  zoom.current = onZoom;
  const range = useRef<[number, number]>([from, to]);
  range.current = [from, to];
  const band = Boolean(series.min && series.max);
  // Created once per series and shape; new data (live points, a refetch) goes through setData.
  useEffect(() => {
    const element = box.current!;
    const unit = unitOf(series.sensorType);
    const line = css('--accent');
    const axis = { stroke: css('--muted'), grid: { stroke: css('--grid'), width: 1 }, ticks: { stroke: css('--grid') } };
    const bound = (_: uPlot, v: number | null) => (v == null ? '–' : v.toFixed(2));
    const options: uPlot.Options = {
      width: element.clientWidth || 600,
      height: 220,
      scales: { x: { time: true, range: () => range.current } },
      series: [
        {},
        { label: series.sensorType, stroke: line, width: 1.5, spanGaps: false, value: (_, v) => (v == null ? '–' : `${v.toFixed(2)} ${unit}`) },
        ...(band
          ? [
              { label: 'min', stroke: 'transparent', points: { show: false }, value: bound },
              { label: 'max', stroke: 'transparent', points: { show: false }, value: bound },
            ]
          : []),
      ],
      bands: band ? [{ series: [3, 2], fill: css('--band') }] : [],
      axes: [axis, { ...axis, label: unit || undefined, size: 56 }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: true, live: true },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 5) return;
            const a = u.posToVal(u.select.left, 'x');
            const b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoom.current(a, b);
          },
        ],
      },
    };
    const instance = new uPlot(options, columns(series), element);
    plot.current = instance;
    const resize = new ResizeObserver(() => instance.setSize({ width: element.clientWidth, height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      instance.destroy();
      plot.current = null;
    };
  }, [series.key, series.sensorType, band]);
  useEffect(() => {
    plot.current?.setData(columns(series));
  }, [series, from, to]);
  const points = series.mean.filter((v) => v !== null).length;
  return (
    <figure class="chart">
      <figcaption>
        <strong>{series.sensorType}</strong>
        {series.hardware && <span class="tag">{series.hardware}</span>}
        <span class="muted">
          {points} {points === 1 ? 'point' : 'points'}{series.min ? ' · min–max band' : ''}
        </span>
      </figcaption>
      <div ref={box} class="plot" data-series={series.key} data-points={points} />
    </figure>
  );
}
