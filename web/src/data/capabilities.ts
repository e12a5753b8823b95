// Which optional endpoints this server offers, read once from its own OpenAPI schema, so controls
// for endpoints it lacks (issue 15 adds them) are hidden rather than failing when used.
import { token } from './token';

/** `/api/zones/{id}` and `/api/zones/{zone_id}` are the same route: compare without names. */
const shape = (path: string): string => path.replace(/\{[^}]*\}/g, '{}');

let paths: Promise<Set<string>> | null = null;

export function serverPaths(): Promise<Set<string>> {
  paths ??= fetch('/openapi.json', { headers: token.value ? { Authorization: `Bearer ${token.value}` } : {} })
    .then((r) => (r.ok ? r.json() : { paths: {} }))
    .then((schema: { paths?: Record<string, unknown> }) => new Set(Object.keys(schema.paths ?? {}).map(shape)))
    .catch(() => new Set<string>());
  return paths;
}

export async function serves(path: string): Promise<boolean> {
  return (await serverPaths()).has(shape(path));
}
