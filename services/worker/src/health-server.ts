import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import type { RedisClient } from '@imagegen/core';
import type { WorkerMetrics } from './metrics';

export interface HealthDeps {
  workers: Worker[];
  /** Our own connection and BullMQ's, both of which the worker needs. */
  redis: RedisClient;
  queueRedis: RedisClient;
  metrics: WorkerMetrics;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The worker's small HTTP port: `GET /metrics` for Prometheus; any other path is the health check,
 * 200 while every consumer runs and both Redis connections are ready. Resolves once it listens.
 */
export async function startHealthServer(
  { workers, redis, queueRedis, metrics }: HealthDeps,
  port: number,
  host: string,
): Promise<HealthServer> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end((err as Error).message),
      );
      return;
    }
    const ok = workers.every((w) => w.isRunning()) && redis.status === 'ready' && queueRedis.status === 'ready';
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', redis: redis.status, queue_redis: queueRedis.status }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
