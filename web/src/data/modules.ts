// Modules: list, status (as one view model for the module page), configuration, enable/disable,
// deletion — all through the generated client.
import {
  modulesDeleteModule,
  modulesEnableHardware,
  modulesGetModuleStatus,
  modulesListModules,
  modulesUpdateModuleConfig,
} from '../client/sdk.gen';
import type { ModuleStatus, ModuleSummary, SensorSetting } from '../client/types.gen';
import { authorized } from './http';

export type { ModuleSummary, SensorSetting };

export interface SensorView {
  /** The configuration key: a sensor type, or `hardware:type`. */
  type: string;
  status: string | null;
  value: number | null;
  desired: SensorSetting | null;
  reported: SensorSetting | null;
  /** The server says the module has not reported the desired setting back yet. */
  pending: boolean;
  /** False when the module reports the sensor `disabled`. */
  enabled: boolean;
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
  /** Desired and reported configurations agree. */
  inSync: boolean;
}

export const listModules = (): Promise<ModuleSummary[]> => authorized(() => modulesListModules());

function kb(n: number | null | undefined): string | null {
  if (n === null || n === undefined) return null;
  return n >= 1024 ? `${(n / 1024).toFixed(1)} MB` : `${n} KB`;
}

function uptime(bootedAt: string | null | undefined): string | null {
  if (!bootedAt) return null;
  const seconds = (Date.now() - Date.parse(bootedAt)) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) return null;
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
}

const present = (value: string | null | undefined): string | null => (value ? value : null);

/** The module page's view of `GET /api/modules/{id}/status`. */
export function toDevice(s: ModuleStatus): DeviceView {
  const { system, sensorsConfig: config } = s;
  const chip = s.hardware?.chip;
  const info: [string, string | null][] = [
    ['IP', present(system.ip)],
    ['MAC', present(system.mac)],
    ['RSSI', system.rssi == null ? null : `${system.rssi} dBm`],
    ['Heap free', kb(system.memory.heapFreeKb)],
    ['Heap total', kb(system.memory.heapTotalKb)],
    ['Flash used', kb(system.flash.usedKb)],
    ['Flash free', kb(system.flash.freeKb)],
    ['Chip', present(chip?.model)],
    ['CPU', chip?.cpuFreqMhz ? `${chip.cpuFreqMhz} MHz` : null],
    ['Flash size', kb(chip?.flashKb)],
    ['Uptime', uptime(system.bootedAt)],
  ];
  const pending = new Set(config.pending);
  const types = new Set([...Object.keys(s.sensors), ...Object.keys(config.desired), ...Object.keys(config.reported)]);
  return {
    id: s.id,
    name: present(s.name),
    moduleType: present(s.moduleType),
    zone: present(s.zoneName),
    online: s.online,
    lastSeen: present(s.lastSeen),
    info: info.filter((row): row is [string, string] => row[1] !== null),
    inSync: config.inSync,
    sensors: [...types].sort().map((type) => {
      const state = s.sensors[type];
      return {
        type,
        status: present(state?.status),
        value: state?.value ?? null,
        desired: config.desired[type] ?? null,
        reported: config.reported[type] ?? null,
        pending: pending.has(type),
        enabled: state?.status !== 'disabled',
      };
    }),
  };
}

export async function getDevice(id: string): Promise<DeviceView> {
  return toDevice(await authorized(() => modulesGetModuleStatus({ path: { module_id: id } })));
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

/** Start or stop one hardware sensor (published to `{id}/sensors/enable`; the module reports the
 * hardware's sensors `disabled` while stopped). */
export function setHardwareEnabled(id: string, hardware: string, enabled: boolean): Promise<unknown> {
  return authorized(() => modulesEnableHardware({ path: { module_id: id }, body: { hardware, enabled } }));
}
