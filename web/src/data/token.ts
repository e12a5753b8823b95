// The bearer token for writes (SENSORHUB_API_TOKEN), asked once on a 401 and kept in localStorage.
import { signal } from '@preact/signals';

const KEY = 'sensorhub.token';

function stored(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export const token = signal<string | null>(stored());

export function setToken(value: string | null): void {
  token.value = value;
  try {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: keep it for this tab only */
  }
}

/** The open token prompt, if any: `rejected` is true when the stored token was refused. */
export const tokenPrompt = signal<{ rejected: boolean; resolve: (token: string | null) => void } | null>(
  null,
);

let pending: Promise<string | null> | null = null;

/** Ask the user for a token (one prompt at a time, shared by concurrent writes). */
export function askToken(rejected: boolean): Promise<string | null> {
  pending ??= new Promise<string | null>((resolve) => {
    tokenPrompt.value = {
      rejected,
      resolve: (value) => {
        tokenPrompt.value = null;
        pending = null;
        if (value) setToken(value);
        resolve(value);
      },
    };
  });
  return pending;
}
