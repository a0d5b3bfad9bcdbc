import { join } from 'node:path';
import { Redis } from 'ioredis';
import { dockerEngineAvailable } from './docker';
import { freePort, startDaemon, stopChild } from './processes';
import { nothingToStop, redactUrl, type ProvidedService } from './service';

const LOCAL_URL = 'redis://127.0.0.1:6379';

async function answers(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

/**
 * Redis, in this order: `REDIS_URL`; the server on 127.0.0.1:6379 if it answers; a `redis:7`
 * container when a Docker engine runs; else a `redis-server` we start on a free port.
 */
export async function provideRedis(workDir: string): Promise<ProvidedService> {
  const configured = process.env.REDIS_URL;
  if (configured) return { url: configured, description: `REDIS_URL (${redactUrl(configured)})`, stop: nothingToStop };

  if (
    await answers(LOCAL_URL).then(
      () => true,
      () => false,
    )
  ) {
    return { url: LOCAL_URL, description: `the Redis already running at ${LOCAL_URL}`, stop: nothingToStop };
  }

  if (await dockerEngineAvailable()) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7').start();
    return {
      url: container.getConnectionUrl(),
      description: 'a redis:7 container (testcontainers)',
      stop: async () => void (await container.stop()),
    };
  }

  return startRedisServer(workDir).catch((err: Error) => {
    throw new Error(
      `no Redis: REDIS_URL is unset, nothing answers at ${LOCAL_URL}, no Docker engine, and ${err.message}`,
      { cause: err },
    );
  });
}

/**
 * A `redis-server` of our own, keeping nothing on disk, on `port` (a free one if not given): also
 * for fault tests, which stop and restart it on the same port.
 */
export async function startRedisServer(workDir: string, port?: number): Promise<ProvidedService> {
  const listen = port ?? (await freePort());
  const url = `redis://127.0.0.1:${listen}`;
  const args = ['--port', String(listen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = await startDaemon(
    'redis-server',
    'redis-server',
    args,
    join(workDir, `redis-${listen}.log`),
    () => answers(url),
    15_000,
  );
  return { url, description: `a redis-server started on port ${listen}`, stop: () => stopChild(child) };
}
