// Asks for the bearer token when a write answers 401; the token is kept in localStorage.
import { useEffect, useRef } from 'preact/hooks';
import { reconnect } from '../data/live';
import { tokenPrompt } from '../data/token';

export function TokenDialog() {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const prompt = tokenPrompt.value;
  useEffect(() => {
    if (prompt && !dialog.current!.open) {
      input.current!.value = '';
      dialog.current!.showModal();
    } else if (!prompt && dialog.current!.open) dialog.current!.close();
  }, [prompt]);
  const answer = (value: string | null) => {
    const p = tokenPrompt.peek();
    if (value) reconnect();
    p?.resolve(value);
  };
  return (
    <dialog ref={dialog} aria-labelledby="token-title" onCancel={() => answer(null)}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          answer(input.current!.value.trim() || null);
        }}
      >
        <h3 id="token-title">Access token needed</h3>
        <p>
          {prompt?.rejected ? 'The stored token was refused. ' : ''}This server protects writes with
          <code> SENSORHUB_API_TOKEN</code>. Enter it once; this browser keeps it.
        </p>
        <label>
          Token <input ref={input} name="token" type="password" autocomplete="off" required />
        </label>
        <menu>
          <button type="button" onClick={() => answer(null)}>Cancel</button>
          <button type="submit">Save and retry</button>
        </menu>
      </form>
    </dialog>
  );
}
