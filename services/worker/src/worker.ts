import { QUEUES, redisTarget } from '@imagegen/shared';
import { connectMongo, createRedis, type Logger } from '@imagegen/core';
import { ABORT_REASONS } from './abort-reasons';
import { compose } from './compose';
import type { WorkerConfig } from './config';
import { subscribeToCancels } from './generations/cancel-subscription';
import { startHealthServer } from './health-server';

export interface RunningWorker {
  healthPort: number;
  stop(): Promise<void>;
}

/** Connects to MongoDB and Redis, listens on the health port, then takes jobs. */
export async function startWorker(config: WorkerConfig, logger: Logger): Promise<RunningWorker> {
  const mongo = await connectMongo(config.MONGODB_URI, { writeConcern: config.MONGODB_WRITE_CONCERN });
  const redis = createRedis(redisTarget(config), 'blocking');
  const composed = compose(config, mongo.db, redis, logger);
  const { consumers, reconciler, sweeper, metrics, queueRedis } = composed;
  const workers = Object.values(consumers);
  const cancellations = await subscribeToCancels(redis, config.QUEUE_PREFIX, consumers[QUEUES.generations], logger);

  // Listening before any consumer runs, so a bad port never strands a taken job.
  const health = await startHealthServer(
    { workers, redis, queueRedis, metrics },
    config.WORKER_HEALTH_PORT,
    config.WORKER_HEALTH_HOST,
  );
  for (const w of workers) void w.run();
  reconciler.start();
  sweeper.start();
  logger.info(
    {
      concurrency: config.WORKER_CONCURRENCY,
      webhookConcurrency: config.WEBHOOK_CONCURRENCY,
      healthPort: health.port,
      queuePrefix: config.QUEUE_PREFIX,
    },
    'worker started',
  );

  return {
    healthPort: health.port,
    async stop() {
      // Let running jobs finish for most of the shutdown bound, keeping enough of it (up to 5 s) to
      // hand the rest back to the queue.
      const handBackMs = Math.min(5_000, config.SHUTDOWN_TIMEOUT_MS / 3);
      const grace = setTimeout(() => {
        for (const w of workers) w.cancelAllJobs(ABORT_REASONS.shutdown);
      }, config.SHUTDOWN_TIMEOUT_MS - handBackMs);
      await Promise.all([...workers.map((w) => w.close()), reconciler.stop(), sweeper.stop()]);
      clearTimeout(grace);
      await health.close();
      await composed.close();
      cancellations.disconnect();
      redis.disconnect();
      await mongo.client.close();
    },
  };
}
