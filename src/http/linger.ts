// Lingering close, as nginx does it: when a response goes out before the request's body has all
// arrived (a body over the size limit), the connection is not closed at once. Closing a socket
// with unread bytes in its receive buffer makes the kernel send a reset, and a client still
// sending its body then sees EPIPE or ECONNRESET instead of the 413 it was sent. So after the
// response, Signpost half-closes (FIN), keeps reading and discarding what the client sends, and
// closes when the client has sent it all or closed its side, when nothing arrives for
// HTTP_LINGER.idleMs, or at the latest after `maxMs`.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HTTP_LINGER } from '../config/limits.ts';

/**
 * Makes the close that follows the response to `request` a lingering one, if its body has not all
 * arrived. Node's HTTP server closes a `Connection: close` response's socket with `destroySoon()`
 * once the response is written; that call is replaced, for this socket, by the lingering close.
 */
export function lingerAfterResponse(request: IncomingMessage, maxMs: number): void {
  const socket = request.socket as Socket & { destroySoon?: () => void };
  if (request.complete || socket.destroyed || Object.hasOwn(socket, 'destroySoon')) return;
  socket.destroySoon = () => {
    if (request.complete) {
      // Everything arrived meanwhile: the usual close.
      Object.getPrototypeOf(socket).destroySoon.call(socket);
      return;
    }
    // Request bodies keep flowing to the request object (Node's parser owns the socket), which
    // discards them: fastify stopped listening, or never started (Node then dumps the body).
    request.resume();
    const { close, stillSending } = lingering(socket, maxMs);
    request.on('data', stillSending);
    // The whole body arrived, or the client closed its side: nothing more is in flight.
    request.once('end', close);
    socket.once('end', close);
    socket.once('close', close);
    socket.end();
  };
}

/**
 * The timers of a lingering close of `socket`: `close` destroys it (at the latest after `maxMs`);
 * `stillSending`, called for each chunk that arrives, puts it off by HTTP_LINGER.idleMs. Armed at once.
 */
export function lingering(socket: Socket, maxMs: number): { close(): void; stillSending(): void } {
  let idle: NodeJS.Timeout | undefined;
  const close = () => {
    clearTimeout(deadline);
    clearTimeout(idle);
    socket.destroy();
  };
  const deadline = setTimeout(close, maxMs);
  const stillSending = () => {
    clearTimeout(idle);
    idle = setTimeout(close, HTTP_LINGER.idleMs);
  };
  stillSending();
  return { close, stillSending };
}
