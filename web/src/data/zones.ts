// Zones (issue 15, the seed's `/api/zones`): not in the generated client yet. Every call resolves
// null when the server answers 404, and the pages then hide zone controls.
import { optionalJson } from './http';

export interface Zone {
  id: string;
  name: string;
  description?: string | null;
  devices?: { moduleId: string; name: string | null; moduleType: string | null }[];
}

/** Zones with their devices. The seed's `GET /api/zones` lists zones without devices and
 * `GET /api/zones/{id}` adds them: fetched per zone when the list lacks them (zones are few). */
export async function listZones(): Promise<Zone[] | null> {
  const zones = await optionalJson<Zone[]>('/api/zones', '/api/zones');
  if (!zones) return null;
  return Promise.all(
    zones.map(async (zone) =>
      zone.devices
        ? zone
        : ((await optionalJson<Zone>('/api/zones/{id}', `/api/zones/${encodeURIComponent(zone.id)}`)) ?? zone),
    ),
  );
}

export const createZone = (name: string): Promise<Zone | null> =>
  optionalJson<Zone>('/api/zones', '/api/zones', { method: 'POST', body: JSON.stringify({ name }) });

const MEMBER = '/api/zones/{zone_id}/devices/{module_id}';
const member = (zoneId: string, moduleId: string): string =>
  `/api/zones/${encodeURIComponent(zoneId)}/devices/${encodeURIComponent(moduleId)}`;

export const assignZone = (zoneId: string, moduleId: string): Promise<unknown> =>
  optionalJson(MEMBER, member(zoneId, moduleId), { method: 'POST' });

export const unassignZone = (zoneId: string, moduleId: string): Promise<unknown> =>
  optionalJson(MEMBER, member(zoneId, moduleId), { method: 'DELETE' });

/** moduleId → zone name, from the zones' device lists (empty when zones are not served). */
export function zoneOf(zones: Zone[] | null): Map<string, Zone> {
  const map = new Map<string, Zone>();
  for (const zone of zones ?? []) for (const device of zone.devices ?? []) map.set(device.moduleId, zone);
  return map;
}
