import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { GenerationJobData, JOBS, QUEUES, cancelChannel, type WebhookJobData } from '@imagegen/shared';
import {
  GenerationCanceller,
  GenerationEvents,
  GenerationLifecycle,
  InFlightGenerations,
  RunTimes,
  WebhookNotifier,
  connectMongo,
  createRedis,
  redisMappingCache,
  type Logger,
} from '@imagegen/core';
import { queueTelemetry } from '@imagegen/telemetry';
import type { WorkerConfig } from './config';
import { INTERNAL_ERROR, failedForGood } from './final-failure';
import { generateImageProcessor } from './generate-image.processor';
import { GenerationRepository } from './generations/generation.repository';
import { imageSourceFor } from './images/image-sources';
import { deadlineConsumer } from './deadlines/deadline.consumer';
import { Reconciler } from './reconcile/reconciler';
import { WorkerMetrics } from './metrics';
import { CANCELED, SHUTDOWN } from './shutdown';
import { webhookConsumer } from './webhooks/webhook.consumer';
import { WebhookRepository } from './webhooks/webhook.repository';

export interface RunningWorker {
  healthPort: number;
  stop(): Promise<void>;
}

/** Generations in flight the reconciler looks at per pass. */
const RECONCILE_BATCH = 500;

type Processor = (job: Job, token: string | undefined, signal: AbortSignal | undefined) => Promise<void>;

/** One processor per job name; a job whose name has none fails without retrying. */
function dispatch(processors: Record<string, Processor>): Processor {
  return (job, token, signal) => {
    const processor = processors[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job name "${job.name}"`);
    return processor(job, token, signal);
  };
}

export async function startWorker(config: WorkerConfig, logger: Logger): Promise<RunningWorker> {
  const mongo = await connectMongo(config.MONGODB_URI);
  const redis = createRedis(config.REDIS_URL, 'blocking');
  const metrics = new WorkerMetrics();
  const source = imageSourceFor(config, redisMappingCache(redis, config.QUEUE_PREFIX), metrics);
  logger.info(`images come from ${source.description}`);

  // BullMQ's own connection: it defines its dozens of scripts on the connection it is given, and
  // ioredis copies every script of a connection into each MULTI made on it, ours (events) included.
  const queueRedis = redis.duplicate();
  queueRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error (queues)'));
  const generations = new GenerationRepository(mongo.db);
  const queueOptions = { connection: queueRedis, prefix: config.QUEUE_PREFIX, telemetry: queueTelemetry() };
  const webhookQueue = new Queue<WebhookJobData>(QUEUES.webhooks, queueOptions);
  const generationQueue = new Queue(QUEUES.generations, queueOptions);
  const deadlineQueue = new Queue(QUEUES.deadlines, queueOptions);
  const lifecycle = new GenerationLifecycle(
    new GenerationEvents(redis, config.QUEUE_PREFIX),
    new WebhookNotifier(mongo.db, webhookQueue, config.PUBLIC_BASE_URL),
    new InFlightGenerations(redis, config.QUEUE_PREFIX),
    config.PUBLIC_BASE_URL,
  );
  const canceller = new GenerationCanceller(mongo.db, redis, config.QUEUE_PREFIX, generationQueue, lifecycle);

  const worker = new Worker(
    QUEUES.generations,
    dispatch({
      [JOBS.generationCreate]: generateImageProcessor({
        generations,
        source,
        lifecycle,
        runTimes: new RunTimes(redis, config.QUEUE_PREFIX),
        logger,
        metrics,
        dbRetryMs: config.WORKER_DB_RETRY_MS,
        outageDelayMs: config.WORKER_DB_OUTAGE_DELAY_MS,
      }),
    }),
    {
      connection: queueRedis,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      // Started only once the health endpoint listens, so a bad port never strands a taken job.
      autorun: false,
      telemetry: queueTelemetry(),
    },
  );
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  worker.on('failed', (job, err) => {
    logger.warn({ jobId: job?.id, err: err.message }, 'job failed');
    if (job) void finalizeFailed(job, err, generations, lifecycle, logger);
  });
  const webhooks = webhookConsumer(config, queueRedis, new WebhookRepository(mongo.db), logger, metrics);
  const workers = [worker, webhooks.worker, deadlineConsumer(config, queueRedis, canceller, logger)];

  // A canceled generation's id arrives here from whichever process canceled it; the worker that
  // runs its job (if this one does) aborts the Hugging Face request.
  const cancellations = redis.duplicate();
  cancellations.on('error', (err) => logger.warn({ err: err.message }, 'cancellation subscription error'));
  cancellations.on('message', (_channel: string, jobId: string) => {
    if (worker.cancelJob(jobId, CANCELED)) logger.info({ jobId }, 'aborting a canceled generation');
  });
  await cancellations.subscribe(cancelChannel(config.QUEUE_PREFIX));

  const reconciler = new Reconciler(
    {
      generations,
      runs: generationQueue,
      deadlines: deadlineQueue,
      lifecycle,
      canceller,
      redis,
      queuePrefix: config.QUEUE_PREFIX,
      logger,
    },
    { intervalMs: config.RECONCILE_INTERVAL_MS, staleAfterMs: config.RECONCILE_AFTER_MS, batch: RECONCILE_BATCH },
  );

  const health = healthServer(workers, redis, queueRedis, metrics);
  await new Promise<void>((resolve, reject) => {
    health.once('error', reject);
    health.listen(config.WORKER_HEALTH_PORT, config.WORKER_HEALTH_HOST, resolve);
  });
  for (const w of workers) void w.run();
  reconciler.start();
  const healthPort = (health.address() as AddressInfo).port;
  logger.info(
    {
      concurrency: config.WORKER_CONCURRENCY,
      webhookConcurrency: config.WEBHOOK_CONCURRENCY,
      healthPort,
      queuePrefix: config.QUEUE_PREFIX,
    },
    'worker started',
  );

  return {
    healthPort,
    async stop() {
      // Let running jobs finish for most of the shutdown bound, keeping enough of it (up to 5 s) to
      // hand the rest back to the queue.
      const handBackMs = Math.min(5_000, config.SHUTDOWN_TIMEOUT_MS / 3);
      const grace = setTimeout(() => {
        for (const w of workers) w.cancelAllJobs(SHUTDOWN);
      }, config.SHUTDOWN_TIMEOUT_MS - handBackMs);
      await Promise.all([...workers.map((w) => w.close()), reconciler.stop()]);
      clearTimeout(grace);
      await new Promise((resolve) => health.close(resolve));
      await Promise.all([
        source.close(),
        webhooks.closeConnections(),
        webhookQueue.close(),
        generationQueue.close(),
        deadlineQueue.close(),
      ]);
      cancellations.disconnect();
      queueRedis.disconnect();
      redis.disconnect();
      await mongo.client.close();
    },
  };
}

/**
 * A job that failed for good must leave its generation `failed`, even when the processor never
 * reached its own handling: BullMQ fails a job that stalled too often without running it, and the
 * processor's last write may itself have hit a database outage. The update is conditional, so a
 * generation the processor already finished is left as it is.
 */
async function finalizeFailed(
  job: Job,
  err: Error,
  generations: GenerationRepository,
  lifecycle: GenerationLifecycle,
  logger: Logger,
): Promise<void> {
  const payload = GenerationJobData.safeParse(job.data);
  if (!failedForGood(job, err) || !payload.success) return;
  try {
    const { generationId, run } = payload.data;
    const failed = await generations.fail(new ObjectId(generationId), run, INTERNAL_ERROR);
    if (failed) await lifecycle.ended(failed);
  } catch (failErr) {
    logger.error({ jobId: job.id, err: (failErr as Error).message }, 'could not mark the generation failed');
  }
}

/**
 * The worker's small HTTP port: `GET /metrics` for Prometheus; any other path is the health check,
 * 200 while every consumer runs and both Redis connections (ours, BullMQ's) are ready.
 */
function healthServer(workers: Worker[], redis: Redis, queueRedis: Redis, metrics: WorkerMetrics): Server {
  return createServer((req, res) => {
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
}
