// A server-sent events parser (the WHATWG event-stream format). Hand-written: Node's EventSource is
// behind a flag on Node 20 and 22 and cannot send headers (Authorization), and the npm parsers
// would be the client's only dependency. Input is text already decoded as a stream (a chunk may
// end anywhere, a CRLF may be split between chunks).

export interface SseMessage {
  /** `event:` (default `message`). */
  event: string;
  data: string;
  /** The `id:` of this message, if it had one. */
  id: string | undefined;
}

export class SseParser {
  readonly #onMessage: (message: SseMessage) => void;
  #buffer = '';
  /** The last chunk ended in CR: a LF starting the next one belongs to it. */
  #skipLineFeed = false;
  #started = false;
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  constructor(onMessage: (message: SseMessage) => void) {
    this.#onMessage = onMessage;
  }

  push(chunk: string): void {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#skipLineFeed && text.charCodeAt(0) === 10) text = text.slice(1);
    if (text.length > 0) this.#skipLineFeed = false;
    const buffer = this.#buffer + text;
    let start = 0;
    // Only the new text can hold a line end: the buffer kept from before has none.
    for (let i = this.#buffer.length; i < buffer.length; i++) {
      const code = buffer.charCodeAt(i);
      if (code !== 10 && code !== 13) continue;
      this.#line(buffer.slice(start, i));
      if (code === 13) {
        if (i + 1 === buffer.length) this.#skipLineFeed = true;
        else if (buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#buffer = buffer.slice(start);
  }

  /** Forgets a partly received message (the connection it came on is gone). */
  reset(): void {
    this.#buffer = '';
    this.#skipLineFeed = false;
    this.#started = false;
    this.#event = '';
    this.#data = [];
    this.#id = undefined;
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) this.#onMessage({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id });
      this.#event = '';
      this.#data = [];
      this.#id = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' a comment (Signpost's keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
  }
}
