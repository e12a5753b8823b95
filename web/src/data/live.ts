// Live events over Socket.IO. Events are queued as they arrive and handed to the listeners once per
// animation frame, so 1,000 messages/s cost one render per frame, not one per message.
// Contract (PLAN.md): connect `auth` {token, modules, batch: true}; `mqtt:batch` carries a list of
// `mqtt-message` objects; servers without batching send `mqtt-message` one by one.
import { signal } from '@preact/signals';
import { io, type Socket } from 'socket.io-client';
import { askToken, token } from './token';

export interface LiveMessage {
  topic: string;
  moduleId: string;
  kind: string;
  value: number | null;
  metadata: Record<string, unknown> | null;
  time: string;
}

export interface ConfigUpdate {
  moduleId: string;
  config: unknown;
}

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';
export const connection = signal<ConnectionState>('connecting');
/** Incremented on every successful (re)connect: pages refetch what they may have missed. */
export const connectCount = signal(0);

type Listener = (batch: LiveMessage[]) => void;
const listeners = new Set<Listener>();
const configListeners = new Set<(update: ConfigUpdate) => void>();
const MAX_QUEUED = 50_000;
let queue: LiveMessage[] = [];
let scheduled = false;
let socket: Socket | null = null;

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  for (const listener of listeners) listener(batch);
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  // A hidden tab gets no animation frames: fall back to a timer so the queue stays bounded.
  if (document.hidden) setTimeout(flush, 250);
  else requestAnimationFrame(flush);
}

function enqueue(messages: LiveMessage[]): void {
  for (const message of messages) queue.push(message);
  if (queue.length > MAX_QUEUED) queue = queue.slice(-MAX_QUEUED);
  schedule();
}

/** Feed messages as if they came from the server (used by the benchmark page and tests). */
export const inject = enqueue;

export function onLive(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function onConfigUpdate(listener: (update: ConfigUpdate) => void): () => void {
  configListeners.add(listener);
  return () => configListeners.delete(listener);
}

export function connect(): void {
  if (socket) return;
  socket = io({
    path: '/socket.io',
    transports: ['websocket', 'polling'],
    // A function: evaluated on every (re)connect, so a token entered later is sent.
    auth: (cb) => cb({ token: token.value ?? undefined, batch: true }),
  });
  socket.on('connect', () => {
    connection.value = 'live';
    connectCount.value++;
  });
  socket.on('disconnect', () => {
    connection.value = 'reconnecting';
  });
  socket.on('connect_error', (error) => {
    connection.value = 'reconnecting';
    // Refused by the server (a token is required for live events): socket.io does not retry
    // that on its own. Ask for the token, then connect again with it.
    if (!socket!.active) {
      void askToken(token.value !== null).then((given) => {
        if (given) socket!.connect();
        else console.warn('live events refused by the server:', error.message);
      });
    }
  });
  socket.on('mqtt:batch', (batch: LiveMessage[]) => enqueue(batch));
  socket.on('mqtt-message', (message: LiveMessage) => enqueue([message]));
  socket.on('config-update', (update: ConfigUpdate) => {
    for (const listener of configListeners) listener(update);
  });
}

/** Reconnect with fresh auth (after the token changed). */
export function reconnect(): void {
  socket?.disconnect().connect();
}
