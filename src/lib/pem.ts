// PEM certificates and keys read for TLS, checked before anything listens or connects, so that a
// file that would fail later (an expired certificate, a key of another certificate, a CA that is
// not one) stops start-up with one line naming the file and the flag that gave it. OpenSSL would
// catch some of these only at the first handshake, and say it to the client, not the operator.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { reasonOf } from './system-errors.ts';

/** A file given by a flag: both are named in every error about it. */
export interface PemFile {
  flag: string;
  path: string;
}

export interface LoadedCertificates {
  pem: Buffer;
  certificates: X509Certificate[];
}

/** Extended key usages (RFC 5280): a certificate that lists some must list the one it is used for. */
export const KEY_USAGE = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function where({ flag, path }: PemFile): string {
  return `${flag} ${path}`;
}

/** The file's bytes, or an error saying why it cannot be read (`permission denied (EACCES)`). */
export function readPem(file: PemFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    throw new Error(`${where(file)}: cannot read it: ${reasonOf(error)}`, { cause: error });
  }
}

/**
 * Every certificate in the file (a leaf and its intermediates, or a CA bundle), each valid now.
 * `usage`: the leaf (the first) must allow it when it lists extended key usages.
 * `mustBeCa`: every certificate must be a CA (basicConstraints CA:TRUE), for a file of trust anchors.
 */
export function loadCertificates(file: PemFile, options: { now?: Date; usage?: keyof typeof KEY_USAGE; mustBeCa?: boolean } = {}): LoadedCertificates {
  const pem = readPem(file);
  const blocks = pem.toString('latin1').match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${where(file)}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)`);
  const now = options.now ?? new Date();
  const certificates = blocks.map((block, i) => {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch (error) {
      throw new Error(`${where(file)}: certificate ${i + 1} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    const subject = subjectOf(certificate);
    if (certificate.validToDate < now) {
      throw new Error(`${where(file)}: the certificate ${subject} expired on ${certificate.validToDate.toISOString()}; renew it`);
    }
    if (certificate.validFromDate > now) {
      throw new Error(`${where(file)}: the certificate ${subject} is not valid before ${certificate.validFromDate.toISOString()} (is this machine's clock right?)`);
    }
    if (options.mustBeCa && !certificate.ca) {
      throw new Error(`${where(file)}: the certificate ${subject} is not a CA certificate (basicConstraints CA:TRUE); give the CA that signs the certificates`);
    }
    return certificate;
  });
  const usage = options.usage;
  if (usage) {
    const usages = extendedKeyUsages(certificates[0]);
    if (usages !== undefined && !usages.includes(KEY_USAGE[usage])) {
      throw new Error(`${where(file)}: the certificate ${subjectOf(certificates[0])} may not be used for ${usage} (its extendedKeyUsage does not list it)`);
    }
  }
  return { pem, certificates };
}

/** An unencrypted private key. */
export function loadPrivateKey(file: PemFile): { pem: Buffer; key: KeyObject } {
  const pem = readPem(file);
  try {
    // An empty passphrase makes an encrypted key fail here instead of prompting on the terminal.
    return { pem, key: createPrivateKey({ key: pem, format: 'pem', passphrase: '' }) };
  } catch (error) {
    const encrypted = /ENCRYPTED/.test(pem.toString('latin1'));
    const reason = encrypted ? 'the key is encrypted; give it unencrypted (openssl pkey -in KEY -out PLAIN)' : 'no private key in it (expected PEM: -----BEGIN PRIVATE KEY-----)';
    throw new Error(`${where(file)}: ${reason}`, { cause: error });
  }
}

/** Throws unless `key` is the private key of `certificate` (the first of `certificateFile`). */
export function checkKeyPair(certificate: X509Certificate, certificateFile: PemFile, key: KeyObject, keyFile: PemFile): void {
  if (!certificate.checkPrivateKey(key)) {
    throw new Error(`${where(keyFile)}: not the private key of the certificate in ${where(certificateFile)} (${subjectOf(certificate)})`);
  }
}

/** `CN=signpost.example` or the whole subject, for messages. */
export function subjectOf(certificate: X509Certificate): string {
  const cn = /^CN=(.*)$/m.exec(certificate.subject);
  return cn ? `CN=${cn[1]}` : `"${certificate.subject.replace(/\n/g, ', ')}"`;
}

/** The extended key usage OIDs, or undefined when the certificate does not restrict them. */
function extendedKeyUsages(certificate: X509Certificate): string[] | undefined {
  // Node 24 names it extKeyUsage; keyUsage is its older, deprecated name.
  const named = certificate as X509Certificate & { extKeyUsage?: string[] };
  return named.extKeyUsage ?? certificate.keyUsage;
}
