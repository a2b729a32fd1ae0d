// Certificates made for a test with the real openssl command line, in a directory of its own:
// CAs, and certificates they sign for servers (subjectAltName) and clients. EC P-256 keys: quick to make.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Ca {
  name: string;
  cert: string;
  key: string;
}

export interface Issued {
  cert: string;
  key: string;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA (basicConstraints CA:TRUE), valid for `days`. */
export function makeCa(dir: string, name: string, days = 2): Ca {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', String(days), '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  );
  return { name, cert, key };
}

/**
 * A certificate signed by `ca` for `name`. `san`: its subjectAltName (`IP:127.0.0.1`); `usage`: its
 * extendedKeyUsage; `days`: validity from now, negative for one that has already expired.
 */
export function issue(dir: string, ca: Ca, name: string, options: { san?: string; usage: string; days?: number }): Issued {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  writeFileSync(
    extensions,
    ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${options.usage}`]
      .concat(options.san ? [`subjectAltName=${options.san}`] : [])
      .join('\n') + '\n',
  );
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`);
  openssl(
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(Date.now() * 1000 + Math.floor(Math.random() * 1000)),
    '-days', String(options.days ?? 2), '-extfile', extensions, '-out', cert,
  );
  return { cert, key };
}
