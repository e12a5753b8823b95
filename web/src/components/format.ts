// Units per sensor type (sensorhub stores bare numbers; the firmware's types imply the unit).
const UNITS: Record<string, string> = {
  temperature: '°C',
  humidity: '%',
  pressure: 'hPa',
  co2: 'ppm',
  eco2: 'ppm',
  tvoc: 'ppb',
  voc: '',
  pm1: 'µg/m³',
  pm25: 'µg/m³',
  pm4: 'µg/m³',
  pm10: 'µg/m³',
  co: 'ppm',
  light: 'lx',
  lux: 'lx',
  soil: '%',
  moisture: '%',
};

export const unitOf = (sensorType: string): string => UNITS[sensorType.toLowerCase()] ?? '';

export function formatValue(value: number): string {
  const abs = Math.abs(value);
  return abs >= 1000 ? value.toFixed(0) : abs >= 100 ? value.toFixed(1) : value.toFixed(abs >= 10 ? 1 : 2);
}

export function ago(time: number | null, now: number): string {
  if (time === null) return 'never seen';
  const s = Math.max(0, Math.round((now - time) / 1000));
  if (s < 60) return 'seen just now';
  const m = Math.round(s / 60);
  if (m < 60) return `seen ${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `seen ${h} h ago`;
  return `seen ${Math.round(h / 24)} d ago`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}
