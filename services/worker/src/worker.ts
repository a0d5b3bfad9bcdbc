import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import { QUEUES, connectMongo, createRedis, type GenerationJobData, type Logger } from '@imagegen/shared';
import type { WorkerConfig } from './config';
import { SHUTDOWN, generateImageProcessor } from './generate-image.processor';
import { GenerationRepository } from './generations/generation.repository';
import { HfClient } from './hf/hf-client';
import type { ImageSource } from './images/image-source';
import { LocalRenderer } from './images/local-renderer';

export interface RunningWorker {
  healthPort: number;
  stop(): Promise<void>;
}

export function imageSourceFor(config: WorkerConfig): ImageSource {
  if (!config.HF_TOKEN) return new LocalRenderer();
  return new HfClient({
    baseUrl: config.HF_BASE_URL,
    token: config.HF_TOKEN,
    timeoutMs: config.HF_TIMEOUT_MS,
    maxWaitMs: config.HF_MAX_WAIT_MS,
    maxImageBytes: config.HF_MAX_IMAGE_BYTES,
    backoff: { baseMs: config.HF_BACKOFF_BASE_MS, maxDelayMs: config.HF_BACKOFF_MAX_MS },
  });
}

export async function startWorker(config: WorkerConfig, logger: Logger): Promise<RunningWorker> {
  const mongo = await connectMongo(config.MONGODB_URI);
  const redis = createRedis(config.REDIS_URL, 'blocking');
  const source = imageSourceFor(config);
  logger.info({ model: config.HF_MODEL }, `images come from ${source.description}`);

  const processor = generateImageProcessor({ generations: new GenerationRepository(mongo.db), source, logger });
  const worker = new Worker<GenerationJobData>(QUEUES.generations, processor, {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
  });
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, err: err.message }, 'job failed'));

  const health = createServer((_req, res) => {
    const ok = worker.isRunning() && redis.status === 'ready';
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', redis: redis.status }));
  });
  await new Promise<void>((resolve) => health.listen(config.WORKER_HEALTH_PORT, resolve));
  const healthPort = (health.address() as AddressInfo).port;
  logger.info(
    { concurrency: config.WORKER_CONCURRENCY, healthPort, queuePrefix: config.QUEUE_PREFIX },
    'worker started',
  );

  return {
    healthPort,
    async stop() {
      // Let running jobs finish for most of the shutdown bound, keeping enough of it (up to 5 s) to
      // hand the rest back to the queue.
      const handBackMs = Math.min(5_000, config.SHUTDOWN_TIMEOUT_MS / 3);
      const grace = setTimeout(() => worker.cancelAllJobs(SHUTDOWN), config.SHUTDOWN_TIMEOUT_MS - handBackMs);
      await worker.close();
      clearTimeout(grace);
      health.close();
      await source.close();
      redis.disconnect();
      await mongo.client.close();
    },
  };
}
