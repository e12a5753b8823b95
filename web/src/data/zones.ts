// Zones (`/api/zones`): the fleet groups its cards by the `zoneId` of each module summary, and the
// module page assigns one. A module is in at most one zone.
import {
  zonesAssignModule,
  zonesCreateZone,
  zonesListZones,
  zonesRemoveModuleZone,
} from '../client/sdk.gen';
import type { Zone } from '../client/types.gen';
import { authorized } from './http';

export type { Zone };

export const listZones = (): Promise<Zone[]> => authorized(() => zonesListZones());

export const createZone = (name: string): Promise<Zone> =>
  authorized(() => zonesCreateZone({ body: { name } }));

/** Put the module in the zone (taking it out of any other). */
export const assignZone = (zoneId: string, moduleId: string): Promise<unknown> =>
  authorized(() => zonesAssignModule({ path: { zone_id: zoneId, module_id: moduleId } }));

/** Take the module out of its zone. */
export const clearZone = (moduleId: string): Promise<unknown> =>
  authorized(() => zonesRemoveModuleZone({ path: { module_id: moduleId } }));
