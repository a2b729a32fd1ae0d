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
  /** Sampled answers from the zone: from the listener taking the query to its reply handed to the socket (see ANSWER_TIME). */
  readonly zoneAnswerTime = new AnswerTimes();
  /** Sampled forwarded answers, measured the same way: most of it the upstream's round trip (nothing for a cache hit). */
  readonly forwardedAnswerTime = new AnswerTimes();
}

/**
 * Answer times are sampled, not measured on every query: one query in `sampleEvery` (a power of two,
 * so choosing is a mask test) reads the clock twice. Timing every query would cost two clock reads of
 * ~25 ns each on a path that takes ~1.3 µs of Signpost's own work; one in 64 costs a counter and a
 * branch. Bucket `i` counts times under 2^i µs (and at least 2^(i-1)); the last one, everything longer.
 */
export const ANSWER_TIME = { sampleEvery: 64, buckets: 24 } as const;
export const ANSWER_TIME_SAMPLE_MASK = ANSWER_TIME.sampleEvery - 1;

/** Upper bounds of the answer-time buckets, in µs (the last is open-ended). */
export const ANSWER_TIME_BOUNDS_MICROS: readonly number[] = Array.from({ length: ANSWER_TIME.buckets }, (_, i) => 2 ** i);

/** Sampled answer times: a histogram of power-of-two buckets, and their sum. */
export class AnswerTimes {
  /** Answers per bucket (not cumulative). */
  readonly counts = new Float64Array(ANSWER_TIME.buckets);
  /** Their total, µs. */
  sumMicros = 0;

  record(micros: number): void {
    // 32 - clz32(n) is the bit length of n: under 1 µs → bucket 0, 1 µs → 1, 2-3 µs → 2, 4-7 µs → 3, ...
    const bucket = 32 - Math.clz32(micros);
    this.counts[bucket < ANSWER_TIME.buckets ? bucket : ANSWER_TIME.buckets - 1]++;
    this.sumMicros += micros;
  }
}
