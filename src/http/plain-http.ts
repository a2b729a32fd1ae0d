// Plain HTTP sent to the HTTPS listener gets an answer it can read, as nginx gives one: a 400
// saying to use https://, instead of a TLS handshake failure that curl reports as "Empty reply from
// server" and a browser as a reset connection. Node's TLS server cannot do this itself: by the time
// it sees that the bytes are not TLS, the socket belongs to OpenSSL and nothing plain can be written.
// So the listener's first look at a connection is done here: its first bytes are read, put back,
// and the connection goes on to TLS unless they start an HTTP request line.
import type { Server, Socket } from 'node:net';
import { lingering } from './linger.ts';

/** A request line starts with a method: upper-case ASCII letters. A TLS record starts with 0x16. */
const HTTP_METHOD_START = /^[A-Z]{3,10} /;

const BODY = JSON.stringify({
  statusCode: 400,
  error: 'Bad Request',
  message: 'this port speaks HTTPS (TLS) only: send the request to https:// instead of http://',
});
const RESPONSE =
  'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\nconnection: close\r\n' +
  `content-length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`;

/**
 * Puts a look at the first bytes in front of every `connection` listener `server` has now (the TLS
 * server's own handshake among them). `firstByteMs`: a connection that sends nothing for this long
 * is closed (the TLS handshake timeout would only start later). `lingerMs`: the longest a refused
 * client may go on sending.
 */
export function answerPlainHttp(server: Server, { firstByteMs, lingerMs }: { firstByteMs: number; lingerMs: number }): void {
  const listeners = server.listeners('connection') as Array<(this: Server, socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), firstByteMs);
    const gone = () => clearTimeout(timer);
    socket.once('close', gone);
    // A reset before the first byte: nothing to answer, and no unhandled 'error'.
    socket.on('error', gone);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      socket.off('close', gone);
      socket.off('error', gone);
      socket.pause();
      // TLS reads what is put back: Node's TLSSocket takes a socket's buffered bytes as received.
      socket.unshift(chunk);
      if (HTTP_METHOD_START.test(chunk.subarray(0, 12).toString('latin1'))) refuse(socket, lingerMs);
      else for (const listener of listeners) listener.call(server, socket);
    });
  });
}

/** The 400, then a lingering close (linger.ts says why): read and drop what the client still sends. */
function refuse(socket: Socket, lingerMs: number): void {
  const { close, stillSending } = lingering(socket, lingerMs);
  socket.on('error', close);
  socket.on('data', stillSending);
  socket.once('end', close);
  socket.end(RESPONSE);
  socket.resume();
}
