// Why a node could not reach etcd at start-up, in one line that names what to change. TLS
// failures get their own words: gRPC reports them as OpenSSL's error strings, and the fix is a
// flag (--etcd-ca, --etcd-cert, --etcd-key), not starting etcd.

/** OpenSSL's `…:error:0A000412:SSL routines:ssl3_read_bytes:ssl/tls alert bad certificate:…:SSL alert number 42` → its words. */
function opensslWords(reason: string): string {
  const match = /error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):.*?(?::(SSL alert number \d+))?$/.exec(reason);
  if (!match) return reason;
  return match[2] ? `${match[1]}, ${match[2]}` : match[1];
}

/** The member refused this node's certificate (or its lack of one): TLS 1.3 alerts. */
const CLIENT_REFUSED = /alert (bad certificate|certificate required|unknown ca|handshake failure|certificate unknown|access denied)/i;
/** This node does not trust the member's certificate. */
const SERVER_UNTRUSTED = /unable to verify|unable to get (local )?issuer|self[- ]signed|certificate has expired|does not match certificate's altnames|ERR_TLS_CERT_ALTNAME/i;
/**
 * TLS spoken to a member that does not speak it. A plain gRPC member reads the ClientHello as a
 * broken HTTP/2 preface and hangs up: the client sees that either as a close before the handshake
 * ended or as a reset, depending on which side's packets are in flight when it closes.
 */
const NOT_TLS = /wrong version number|packet length too long|unknown protocol|EPROTO|disconnected before secure TLS connection|ECONNRESET/i;
/** Plain gRPC failures that say the address answered, or not, whatever the protocol. */
const UNREACHABLE = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|timed out|deadline/i;

/**
 * The start-up error for `reason` (the gRPC failure, cut to what a person can act on). `tls`: the
 * node was given --etcd-ca/--etcd-cert/--etcd-key.
 */
export function startFailure(hosts: string[], reason: string, tls: boolean): string {
  const at = `etcd at ${hosts.join(', ')}`;
  const words = opensslWords(
    reason
      // gRPC's timestamp, and Node's advice for CAs in the system's store (here the CA is a flag).
      .replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/, '')
      .replace(/; if the root CA is installed locally.*$/, ''),
  );
  if (tls && CLIENT_REFUSED.test(words)) {
    return `${at} refused this node's TLS client certificate (${words}): give --etcd-cert and --etcd-key, a certificate signed by the CA of the members' --trusted-ca-file`;
  }
  if (tls && SERVER_UNTRUSTED.test(words)) {
    return `${at}: its TLS certificate is not trusted (${words}): give --etcd-ca the CA that signed the members' certificates (which must name the host in --store)`;
  }
  if (tls && NOT_TLS.test(words)) {
    return `${at} does not speak TLS (${words}): leave out --etcd-ca, --etcd-cert and --etcd-key, or give its members https:// client URLs`;
  }
  const usual = `cannot reach ${at} (${words}): start it, or point --store etcd://HOST:PORT[,HOST:PORT…] at its members`;
  // A member that serves TLS only hangs up on plain gRPC without a word that says so.
  return tls || UNREACHABLE.test(words) ? usual : `${usual}; if they serve TLS (https:// client URLs), give --etcd-ca (and --etcd-cert, --etcd-key)`;
}
