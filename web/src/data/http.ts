// One place that configures the generated client: same-origin URLs, the bearer token, 401 retry.
import { client } from '../client/client.gen';
import { askToken, token } from './token';

client.setConfig({ baseUrl: '' });
client.interceptors.request.use((request) => {
  if (token.value) request.headers.set('Authorization', `Bearer ${token.value}`);
  return request;
});

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Result<T> = { data?: T; error?: unknown; response?: Response };

function messageOf(error: unknown, response?: Response): string {
  if (error && typeof error === 'object') {
    const body = error as { error?: unknown; detail?: unknown };
    if (typeof body.error === 'string') return body.error;
    if (typeof body.detail === 'string') return body.detail;
    if (body.detail) return JSON.stringify(body.detail);
  }
  return response ? `HTTP ${response.status}` : 'network error';
}

/** Unwrap a generated-SDK call: the data, or an ApiError carrying the HTTP status (0 = network). */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await call;
  } catch (error) {
    throw new ApiError(0, String(error));
  }
  if (result.response?.ok) return result.data as T;
  throw new ApiError(result.response?.status ?? 0, messageOf(result.error, result.response));
}

/** A call that may need the token (writes; reads too when the server protects them): on 401 ask
 * for the token (once per refusal), store it, and try again. */
export async function authorized<T>(call: () => Promise<Result<T>>): Promise<T> {
  for (;;) {
    try {
      return await unwrap(call());
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      const given = await askToken(token.value !== null);
      if (!given) throw error;
    }
  }
}

/** Headers for a plain `fetch` (text endpoints such as /metrics). */
export function authHeaders(): HeadersInit {
  return token.value ? { Authorization: `Bearer ${token.value}` } : {};
}
