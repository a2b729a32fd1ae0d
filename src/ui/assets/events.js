// Follows the server's event stream (GET /v1/watch, server-sent events) over fetch rather than
// EventSource: fetch can send the bearer token (a server with --read-requires-token needs it) and
// Last-Event-ID on every reconnect, and the console decides when a stream is lost. Events are parsed
// by eventsource-parser. After a break the stream reconnects by itself, with Last-Event-ID, so the
// server replays what was missed (or sends `reset` when its history no longer reaches back).
import { EventSourceParserStream } from './vendor/eventsource-parser/stream.js';
import { apiUrl, authHeaders } from './api.js';

/** The server sends a comment every 15 s; this long without a byte means the stream is dead. */
const SILENCE_MS = 40_000;
const RETRY_MS = [250, 500, 1000, 2000, 4000];

/**
 * Calls `onEvent({ type, data, id })` for each event and `onStatus(status, detail)` on each change:
 * `live` (connected; `detail.resumed` when it came back after a loss), `lost` (`detail.reason`,
 * `detail.attempt`), `unauthorized` (`detail.reason`: reads need a token; it waits for `restart()`).
 */
export function followEvents({ onEvent, onStatus }) {
  let lastEventId = null;
  let controller = null;
  let stopped = false;
  let attempt = 0;
  let wasLost = false;
  let retryTimer;

  const connect = async () => {
    clearTimeout(retryTimer);
    controller?.abort();
    const mine = (controller = new AbortController());
    let watchdog;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => mine.abort(new Error('no data from the server for 40 s')), SILENCE_MS);
    };
    try {
      const headers = { accept: 'text/event-stream', ...authHeaders() };
      if (lastEventId !== null) headers['last-event-id'] = lastEventId;
      feed();
      const response = await fetch(apiUrl('v1/watch'), { headers, signal: mine.signal, cache: 'no-store' });
      if (response.status === 401) {
        const body = await response.json().catch(() => null);
        clearTimeout(watchdog);
        onStatus('unauthorized', { reason: body?.message ?? 'a token is needed to read' });
        return;
      }
      if (!response.ok || !response.body) throw new Error(`the event stream answered ${response.status}`);
      onStatus('live', { resumed: wasLost });
      wasLost = false;
      attempt = 0;
      const reader = response.body
        .pipeThrough(new TransformStream({ transform: (chunk, out) => (feed(), out.enqueue(chunk)) }))
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream())
        .getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the server closed the event stream');
        if (value.id) lastEventId = value.id;
        let data = null;
        try {
          data = JSON.parse(value.data);
        } catch {
          // Not JSON: pass the event on without a body.
        }
        onEvent({ type: value.event ?? 'message', id: value.id, data });
      }
    } catch (error) {
      clearTimeout(watchdog);
      if (stopped || mine !== controller) return;
      wasLost = true;
      const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
      attempt++;
      onStatus('lost', { reason: mine.signal.reason?.message ?? error.message, attempt, retryInMs: delay });
      retryTimer = setTimeout(connect, delay);
    }
  };

  connect();
  return {
    /** Reconnects now (a new token, say), keeping Last-Event-ID. */
    restart: () => {
      attempt = 0;
      void connect();
    },
    stop: () => {
      stopped = true;
      clearTimeout(retryTimer);
      controller?.abort();
    },
  };
}
