// The TLS flags turned into what the HTTPS listener and the etcd client take, with their files read
// and checked at start-up (src/lib/pem.ts). Every error names the flag, as the CLI prints it on one line.
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { checkKeyPair, loadCertificates, loadPrivateKey, type PemFile } from '../lib/pem.ts';
import { flagName, type FlagKey, type SignpostConfig } from './flags.ts';
import { etcdHosts } from './parse.ts';

/** The HTTPS listener: Node's `https.createServer` options (fastify's `https`), and its certificate, read. */
export interface HttpsOptions {
  server: {
    key: Buffer;
    cert: Buffer;
    ca?: Buffer;
    /** With --tls-client-ca: ask every client for a certificate, and refuse the handshake without a good one. */
    requestCert: boolean;
    rejectUnauthorized: boolean;
  };
  certificate: X509Certificate;
}

/** The etcd3 client's `credentials`: always TLS; the system's CAs when `rootCertificate` is absent. */
export interface EtcdTls {
  rootCertificate?: Buffer;
  privateKey?: Buffer;
  certChain?: Buffer;
}

type TlsConfig = Pick<SignpostConfig, 'tlsCert' | 'tlsKey' | 'tlsClientCa' | 'etcdCa' | 'etcdCert' | 'etcdKey' | 'store'>;

function file(config: TlsConfig, key: FlagKey & keyof TlsConfig): PemFile | undefined {
  const path = config[key];
  return path === undefined || path === '' ? undefined : { flag: flagName(key), path };
}

/** The HTTPS listener's options, or undefined for plain HTTP (no --tls-cert). */
export function httpsOptions(config: TlsConfig, now = new Date()): HttpsOptions | undefined {
  const certFile = file(config, 'tlsCert');
  const keyFile = file(config, 'tlsKey');
  const clientCaFile = file(config, 'tlsClientCa');
  if (!certFile) {
    if (keyFile) throw new Error(`${keyFile.flag} needs ${flagName('tlsCert')} (the certificate of that key)`);
    if (clientCaFile) throw new Error(`${clientCaFile.flag} needs ${flagName('tlsCert')} and ${flagName('tlsKey')}: client certificates are asked for over HTTPS only`);
    return undefined;
  }
  if (!keyFile) throw new Error(`${certFile.flag} needs ${flagName('tlsKey')} (the private key of the certificate)`);
  const cert = loadCertificates(certFile, { now, usage: 'serverAuth' });
  const key = loadPrivateKey(keyFile);
  checkKeyPair(cert.certificates[0], certFile, key.key, keyFile);
  const clientCa = clientCaFile ? loadCertificates(clientCaFile, { now, mustBeCa: true }) : undefined;
  const server = {
    key: key.pem,
    cert: cert.pem,
    ...(clientCa ? { ca: clientCa.pem } : {}),
    requestCert: clientCa !== undefined,
    rejectUnauthorized: clientCa !== undefined,
  };
  secureContext(certFile, server);
  return { server, certificate: cert.certificates[0] };
}

/** The etcd client's TLS credentials, or undefined for plain gRPC (none of the --etcd-ca/cert/key flags). */
export function etcdTls(config: TlsConfig, now = new Date()): EtcdTls | undefined {
  const caFile = file(config, 'etcdCa');
  const certFile = file(config, 'etcdCert');
  const keyFile = file(config, 'etcdKey');
  const given = caFile ?? certFile ?? keyFile;
  if (!given) return undefined;
  if (etcdHosts(config.store) === undefined) throw new Error(`${given.flag} is for an etcd store, and ${flagName('store')} is ${config.store}`);
  if (certFile && !keyFile) throw new Error(`${certFile.flag} needs ${flagName('etcdKey')} (the private key of the certificate)`);
  if (keyFile && !certFile) throw new Error(`${keyFile.flag} needs ${flagName('etcdCert')} (the certificate of that key)`);
  const credentials: EtcdTls = {};
  if (caFile) credentials.rootCertificate = loadCertificates(caFile, { now, mustBeCa: true }).pem;
  if (certFile && keyFile) {
    const cert = loadCertificates(certFile, { now, usage: 'clientAuth' });
    const key = loadPrivateKey(keyFile);
    checkKeyPair(cert.certificates[0], certFile, key.key, keyFile);
    credentials.certChain = cert.pem;
    credentials.privateKey = key.pem;
    secureContext(certFile, { cert: cert.pem, key: key.pem, ca: credentials.rootCertificate });
  }
  return credentials;
}

/** What OpenSSL itself refuses in these files (checked above for the usual mistakes), as one line. */
function secureContext(certFile: PemFile, options: { key: Buffer; cert: Buffer; ca?: Buffer }): void {
  try {
    createSecureContext(options);
  } catch (error) {
    throw new Error(`${certFile.flag} ${certFile.path}: OpenSSL refuses it: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Whether clients that connect to `host` (the listener's address) will accept the certificate: it
 * names that IP address (subjectAltName) or host name. A wildcard listener (0.0.0.0, ::) is reached
 * under other names, which cannot be known here: true.
 */
export function certificateCovers(certificate: X509Certificate, host: string): boolean {
  if (host === '0.0.0.0' || host === '::') return true;
  return (isIP(host) ? certificate.checkIP(host) : certificate.checkHost(host)) !== undefined;
}
