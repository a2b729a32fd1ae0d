import type { FastifyInstance } from 'fastify';
import { serverResponse } from '../schemas.ts';

/** Sampled answer times: per-bucket counts (bounds in `boundsMicros`, the last open-ended) and their sum. */
interface AnswerTimesJson {
  counts: number[];
  sumMicros: number;
}

/** The body of `GET /v1/server` (schema: serverResponse). Counts are totals since start; rates are the reader's. */
export interface ServerStatus {
  version: string;
  node: string;
  startedAt: string;
  /** The server's clock when it answered, so a reader can count down to `expiresAt` without trusting its own. */
  now: string;
  config: {
    domain: string;
    dns: string;
    http: string;
    dnsTtl: number;
    gracePeriod: number;
    onlyPassing: boolean;
    forwarding: { enabled: boolean; upstreams: string[] };
    /** Whether writes, and reads, need a bearer token. */
    tokens: { writes: boolean; reads: boolean };
  };
  store: { kind: string; available: boolean; endpoints?: string[]; prefix?: string };
  dns: {
    /** Replies sent over UDP and TCP, by rcode name. */
    replies: Record<string, number>;
    answerTime: { sampleEvery: number; boundsMicros: number[]; zone: AnswerTimesJson; forwarded: AnswerTimesJson };
    rateLimit: { dropped: number; slipped: number };
    tcpConnections: number;
  };
  registry: {
    index: number;
    services: number;
    instances: Record<'passing' | 'warning' | 'critical' | 'maintenance', number>;
    protectionTripped: number;
    events: Record<'register' | 'deregister' | 'health' | 'settings', number>;
    deregistrations: Record<'request' | 'critical', number>;
    heartbeats: number;
  };
  watches: { open: number; max: number };
}

/**
 * `GET /v1/server`: this server's version, the settings that shape its answers, and its figures as
 * JSON (the web console's charts poll it; Prometheus scrapes `/metrics`). A read like any other.
 */
export async function serverRoutes(app: FastifyInstance, { status }: { status: () => ServerStatus }) {
  app.get('/v1/server', { schema: { response: { 200: serverResponse } } }, async () => status());
}
