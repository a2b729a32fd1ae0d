/**
 * What the DNS listeners did, as plain numbers the query path bumps: one typed-array increment per
 * reply, where a prom-client counter call would look up its labels on every query. `src/metrics`
 * reads these when scraped. Indexes of the per-rcode arrays are the 4-bit header rcodes.
 */
export class DnsCounters {
  /** Replies sent over UDP, by rcode (a slipped, truncated reply counts under its rcode). */
  readonly udpReplies = new Float64Array(16);
  /** Replies sent over TCP, by rcode. */
  readonly tcpReplies = new Float64Array(16);
  /** UDP packets given no reply: responses (QR=1) and packets too short to hold a header. */
  udpIgnored = 0;
  /** TCP connections closed for sending a message that is not a query. */
  tcpHungUp = 0;
  /** TCP connections refused at accept for exceeding the per-client cap. */
  tcpRefused = 0;
}
