// Modules: list, status (normalized to one view model), configuration, deletion.
// Reads both today's status shape and the seed-shaped one of issue 15, so the pages do not change
// when the API does; after regenerating the client only this file should need adapting.
import {
  modulesDeleteModule,
  modulesGetModuleStatus,
  modulesListModules,
  modulesUpdateModuleConfig,
} from '../client/sdk.gen';
import type { ModuleSummary } from '../client/types.gen';
import { authorized, optionalJson } from './http';

export type { ModuleSummary };

export interface SensorSetting {
  interval: number | null;
  model: string | null;
}

export interface SensorView {
  type: string;
  status: string | null;
  value: number | null;
  desired: SensorSetting | null;
  reported: SensorSetting | null;
  /** Desired differs from what the module reported (or the module has not reported yet). */
  pending: boolean;
  enabled: boolean | null;
}

export interface DeviceView {
  id: string;
  name: string | null;
  moduleType: string | null;
  zone: string | null;
  online: boolean;
  lastSeen: string | null;
  info: [label: string, value: string][];
  sensors: SensorView[];
}

export const listModules = (): Promise<ModuleSummary[]> => authorized(() => modulesListModules());

type Any = Record<string, any>;
const obj = (value: unknown): Any => (value && typeof value === 'object' ? (value as Any) : {});
const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);
const str = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : null;

function settings(source: unknown): Record<string, SensorSetting> {
  const out: Record<string, SensorSetting> = {};
  for (const [key, value] of Object.entries(obj(source))) {
    const v = obj(value);
    out[key] = { interval: num(v.interval), model: str(v.model) };
  }
  return out;
}

function kb(value: unknown): string | null {
  const n = num(value);
  if (n === null) return null;
  return n >= 1024 ? `${(n / 1024).toFixed(1)} MB` : `${n} KB`;
}

function uptime(bootedAt: string | null): string | null {
  if (!bootedAt) return null;
  const seconds = (Date.now() - Date.parse(bootedAt)) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) return null;
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
}

/** Normalize a status body (today's flat shape or the seed's nested one) to a `DeviceView`. */
export function toDevice(id: string, body: unknown): DeviceView {
  const s = obj(body);
  const system = obj(s.system);
  const hardware = obj(s.hardware);
  const chip = obj(hardware.chip);
  const flash = obj(system.flash);
  const memory = obj(system.memory);
  const desired = settings(
    s.desiredConfig?.sensors ?? s.desiredConfig ?? s.config ?? s.sensorsConfig?.sensors,
  );
  const reportedSource = s.reportedConfig?.sensors ?? s.reportedConfig;
  const reported = reportedSource ? settings(reportedSource) : null;
  const states = obj(s.sensors);
  const types = new Set([...Object.keys(states), ...Object.keys(desired)]);
  const bootedAt = str(system.bootedAt);
  const rssi = num(system.rssi);
  const info: [string, string | null][] = [
    ['IP', str(system.ip)],
    ['MAC', str(system.mac)],
    ['RSSI', rssi === null ? null : `${rssi} dBm`],
    ['Heap free', kb(system.heapFreeKb ?? memory.heapFreeKb)],
    ['Heap total', kb(system.heapTotalKb ?? memory.heapTotalKb)],
    ['Flash used', kb(system.flashUsedKb ?? flash.usedKb)],
    ['Flash free', kb(system.flashFreeKb ?? flash.freeKb)],
    ['Chip', str(hardware.chipModel ?? chip.model)],
    ['CPU', num(hardware.cpuFreqMhz ?? chip.cpuFreqMhz) ? `${hardware.cpuFreqMhz ?? chip.cpuFreqMhz} MHz` : null],
    ['Flash size', kb(hardware.flashKb ?? chip.flashKb)],
    ['Uptime', uptime(bootedAt) ?? str(system.uptimeStart)],
  ];
  return {
    id,
    name: str(system.name ?? s.name),
    moduleType: str(s.moduleType ?? system.moduleType),
    zone: str(s.zoneName ?? s.zone),
    online: Boolean(system.online ?? s.online),
    lastSeen: str(system.lastSeen ?? s.lastSeen),
    info: info.filter((row): row is [string, string] => row[1] !== null),
    sensors: [...types].sort().map((type) => {
      const state = obj(states[type]);
      const want = desired[type] ?? null;
      const got = reported ? (reported[type] ?? null) : null;
      return {
        type,
        status: str(state.status),
        value: num(state.value),
        desired: want,
        reported: got,
        pending:
          reported !== null &&
          want !== null &&
          (got === null || got.interval !== want.interval || (want.model !== null && got.model !== want.model)),
        enabled: typeof state.enabled === 'boolean' ? state.enabled : state.status === 'disabled' ? false : null,
      };
    }),
  };
}

export async function getDevice(id: string): Promise<DeviceView> {
  const body = await authorized(() => modulesGetModuleStatus({ path: { module_id: id } }));
  return toDevice(id, body);
}

/** Store the desired setting of sensors and publish it retained to `{id}/sensors/config`. */
export function updateConfig(
  id: string,
  sensors: Record<string, { interval: number; model?: string | null }>,
): Promise<unknown> {
  return authorized(() => modulesUpdateModuleConfig({ path: { module_id: id }, body: { sensors } }));
}

export function deleteModule(id: string): Promise<unknown> {
  return authorized(() => modulesDeleteModule({ path: { module_id: id } }));
}

/** Enable or disable one hardware sensor (issue 15: `POST …/hardware/enable` `{hardware, enabled}`,
 * published to `{id}/sensors/enable`); resolves null when the server does not serve it (404). */
export function setHardwareEnabled(id: string, hardware: string, enabled: boolean): Promise<unknown> {
  return optionalJson('/api/modules/{module_id}/hardware/enable', `/api/modules/${encodeURIComponent(id)}/hardware/enable`, {
    method: 'POST',
    body: JSON.stringify({ hardware, enabled }),
  });
}
