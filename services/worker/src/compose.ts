import type { Worker } from 'bullmq';
import { duplicateRedis, type RedisClient } from '@imagegen/core';
import type { Db } from 'mongodb';
import { QUEUES, type QueueName } from '@imagegen/shared';
import {
  AccountDeleter,
  GenerationCanceller,
  GenerationDeleter,
  GenerationEvents,
  GenerationLifecycle,
  GenerationStore,
  InFlightGenerations,
  JobQueues,
  PendingRuns,
  QuotaLedger,
  RunTimes,
  UsageLog,
  WebhookNotifier,
  imageStoreFrom,
  redisMappingCache,
  type Logger,
} from '@imagegen/core';
import { queueTelemetry } from '@imagegen/telemetry';
import type { WorkerConfig } from './config';
import { buildConsumers } from './consumer-factory';
import { deadlineConsumer } from './deadlines/deadline.consumer';
import { generationConsumer } from './generations/generation.consumer';
import { GenerationRepository } from './generations/generation.repository';
import { imageSourceFor } from './images/image-sources';
import { WorkerMetrics } from './metrics';
import { LostWebhooks } from './reconcile/lost-webhooks';
import { Reconciler } from './reconcile/reconciler';
import { Sweeper } from './retention/sweeper';
import { sweepTasks } from './retention/sweep-tasks';
import { webhookConsumer } from './webhooks/webhook.consumer';
import { WebhookRepository } from './webhooks/webhook.repository';

/** Generations in flight the reconciler looks at per pass. */
const RECONCILE_BATCH = 500;

export interface Composed {
  /** One BullMQ worker per queue, not yet running. */
  consumers: Record<QueueName, Worker>;
  reconciler: Reconciler;
  /** The retention sweep, not yet running. */
  sweeper: Sweeper;
  metrics: WorkerMetrics;
  /** BullMQ's own connection, which the health check watches beside ours. */
  queueRedis: RedisClient;
  /** Closes what the consumers used, once they have stopped. */
  close(): Promise<void>;
}

/** Builds the worker's consumers, reconciler and sweeper from its config and connections: the one place they are wired. */
export function compose(config: WorkerConfig, db: Db, redis: RedisClient, logger: Logger): Composed {
  const metrics = new WorkerMetrics();
  const source = imageSourceFor(config, redisMappingCache(redis, config.QUEUE_PREFIX), metrics);
  logger.info(`images come from ${source.description}`);

  // BullMQ's own connection: it defines its dozens of scripts on the connection it is given, and
  // ioredis copies every script of a connection into each MULTI made on it, ours (events) included.
  const queueRedis = duplicateRedis(redis, 'blocking');
  queueRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error (queues)'));
  const queues = new JobQueues(
    { connection: queueRedis, prefix: config.QUEUE_PREFIX, telemetry: queueTelemetry() },
    logger,
  );
  const images = imageStoreFrom(config, db);
  logger.info(`images are kept in ${images.description}`);
  const store = new GenerationStore(db);
  const generations = new GenerationRepository(db, store, images);
  const events = new GenerationEvents(redis, config.QUEUE_PREFIX);
  const inFlight = new InFlightGenerations(redis, config.QUEUE_PREFIX);
  const lifecycle = new GenerationLifecycle(
    events,
    new WebhookNotifier(db, queues, config.PUBLIC_BASE_URL),
    inFlight,
    config.PUBLIC_BASE_URL,
    // Gives back what a failed or canceled run was charged against its owner's image quota.
    new QuotaLedger(redis, config.QUEUE_PREFIX),
  );
  const generationQueue = queues.queue(QUEUES.generations);
  const canceller = new GenerationCanceller(store, redis, config.QUEUE_PREFIX, generationQueue, lifecycle);

  const webhookMessages = new WebhookRepository(db);
  const webhooks = webhookConsumer(config, webhookMessages, logger, metrics);
  const consumers = buildConsumers(
    [
      generationConsumer(
        {
          store,
          generations,
          source,
          lifecycle,
          runTimes: new RunTimes(redis, config.QUEUE_PREFIX),
          logger,
          metrics,
          usage: new UsageLog(db),
          dbRetryMs: config.WORKER_DB_RETRY_MS,
          outageDelayMs: config.WORKER_DB_OUTAGE_DELAY_MS,
        },
        config.WORKER_CONCURRENCY,
      ),
      webhooks.consumer,
      deadlineConsumer(canceller, logger),
    ],
    {
      connection: queueRedis,
      prefix: config.QUEUE_PREFIX,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      logger,
    },
  );

  const reconciler = new Reconciler(
    {
      generations,
      store,
      pending: new PendingRuns(lifecycle, queues),
      runs: generationQueue,
      lifecycle,
      canceller,
      webhooks: new LostWebhooks({
        messages: webhookMessages,
        deliveries: queues.queue(QUEUES.webhooks),
        jobs: queues,
        logger,
      }),
      redis,
      queuePrefix: config.QUEUE_PREFIX,
      logger,
    },
    { intervalMs: config.RECONCILE_INTERVAL_MS, staleAfterMs: config.RECONCILE_AFTER_MS, batch: RECONCILE_BATCH },
  );

  const deleter = new GenerationDeleter({ db, images, events, inFlight, canceller, queues });
  const sweeper = new Sweeper(
    {
      tasks: sweepTasks(config, {
        db,
        redis,
        images,
        queuePrefix: config.QUEUE_PREFIX,
        logger,
        generations: deleter,
        accounts: new AccountDeleter(db, deleter),
      }),
      redis,
      queuePrefix: config.QUEUE_PREFIX,
      logger,
      observer: metrics,
    },
    { intervalMs: config.SWEEP_INTERVAL_MS, now: () => new Date() },
  );

  return {
    consumers,
    reconciler,
    sweeper,
    metrics,
    queueRedis,
    async close() {
      await Promise.all([source.close(), webhooks.closeConnections(), queues.close(), images.close()]);
      queueRedis.disconnect();
    },
  };
}
