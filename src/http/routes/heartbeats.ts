import type { FastifyInstance } from 'fastify';
import { LIMITS } from '../../config/limits.ts';
import type { Registry } from '../../registry/registry.ts';
import { StoreError } from '../../registry/store.ts';
import type { ReportedStatus } from '../../registry/types.ts';
import { mayWrite } from '../auth.ts';
import { errorResponse, heartbeatBatchBody, heartbeatBatchResponse } from '../schemas.ts';
import { HEARTBEAT_REFUSALS, iso } from './instances.ts';

interface BatchEntry {
  service: string;
  id: string;
  status: ReportedStatus;
  note: string;
}

type BatchResult =
  | { service: string; id: string; status: string; expiresAt: string }
  | { service: string; id: string; error: 403 | 404 | 409 | 503; message: string };

/**
 * `PUT /v1/heartbeats`: renews many instances in one request, for a process that holds many
 * registrations. Each entry is a heartbeat as `PUT …/instances/:id/heartbeat` takes it, with the
 * same token rules per service; one result per entry, in request order. One entry failing fails
 * only that entry, so the request itself is 200 whenever its body is valid.
 */
export async function heartbeatRoutes(app: FastifyInstance, { registry, httpMaxBody }: { registry: Registry; httpMaxBody: number }) {
  app.put<{ Body: { instances: BatchEntry[] } }>(
    '/v1/heartbeats',
    {
      bodyLimit: Math.max(httpMaxBody, LIMITS.heartbeatBatch.maxBytes),
      schema: { body: heartbeatBatchBody, response: { 200: heartbeatBatchResponse, 400: errorResponse } },
    },
    async (request) => {
      // Entries renew concurrently: with a shared store each one waits for its lease, not for the others'.
      const results = await Promise.all(request.body.instances.map((entry) => renew(registry, entry, mayWrite(request, entry.service.toLowerCase()))));
      return { results };
    },
  );
}

async function renew(registry: Registry, entry: BatchEntry, allowed: boolean): Promise<BatchResult> {
  const service = entry.service.toLowerCase();
  const id = entry.id.toLowerCase();
  if (!allowed) return { service, id, error: 403, message: `this token may not write service ${service}` };
  if (registry.get(service, id)?.ttl === 0) {
    return { service, id, error: 409, message: HEARTBEAT_REFUSALS.noLease({ service, id }) };
  }
  try {
    const instance = await registry.heartbeat(service, id, { status: entry.status, note: entry.note });
    if (!instance) return { service, id, error: 404, message: HEARTBEAT_REFUSALS.unknown({ service, id }) };
    return { service, id, status: instance.status, expiresAt: iso(instance.expiresAt!) };
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    return { service, id, error: 503, message: `not stored: ${error.message}` };
  }
}
