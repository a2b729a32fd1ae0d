// Words for what the operating system refused, for one-line start-up errors.
import { getSystemErrorMessage } from 'node:util';

/** `permission denied (EACCES)` for an OS error; its message for anything else. */
export function reasonOf(error: unknown): string {
  const { errno, code, message } = error as NodeJS.ErrnoException;
  // errno is negative in Node's system errors; getSystemErrorMessage wants it as Node gives it.
  if (typeof errno === 'number' && code) return `${getSystemErrorMessage(errno)} (${code})`;
  return message;
}

/** What one listener is, for its errors: `DNS` and `--dns`, where it asked to listen. */
export interface Listener {
  what: string;
  flag: string;
  host: string;
  port: number;
  /** Who else usually holds this port, when it is a well-known one (`Consul's DNS interface`). */
  usualOwner?: string;
}

/**
 * A listener that could not bind, as one line that says what to change: the address, why, and
 * the flag that moves it. Errors that are not the operating system's come back as they are.
 */
export function listenError(error: unknown, { what, flag, host, port, usualOwner }: Listener): Error {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const fix = `choose another with ${flag} HOST:PORT`;
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE': {
      const owner = usualOwner ? ` (port ${port} is ${usualOwner}'s: is it running on this machine?)` : '';
      return new Error(`${what} address ${address} is already in use${owner}; ${fix}`, { cause: error });
    }
    case 'EACCES':
      return new Error(
        `${what} address ${address}: permission denied${port < 1024 ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : ''}; ${fix}`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
      return new Error(`${what} address ${address}: no network interface of this machine has the address ${host}; ${fix}`, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`${what} address ${address}: the host name ${host} does not resolve; ${fix}`, { cause: error });
    default:
      // Not the address's fault (a programming error, say): as it is.
      if (!(error as NodeJS.ErrnoException).syscall) return error as Error;
      return new Error(`${what} address ${address}: ${reasonOf(error)}`, { cause: error });
  }
}
