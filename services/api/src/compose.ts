import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import { QUEUES, type DeadlineJobData, type GenerationJobData, type WebhookJobData } from '@imagegen/shared';
import {
  GenerationCanceller,
  GenerationEvents,
  GenerationLifecycle,
  InFlightGenerations,
  ProviderMappings,
  RunTimes,
  WebhookNotifier,
  redisMappingCache,
  type Logger,
} from '@imagegen/core';
import { buildAdmin } from './admin/admin';
import type { AppDeps } from './app';
import { AuthService } from './auth/auth.service';
import { Authenticator } from './auth/authenticator';
import { HashQueue } from './auth/hash-queue';
import { LoginThrottle } from './auth/login-throttle';
import { RegisterThrottle } from './auth/register-throttle';
import type { TokenService } from './auth/token.service';
import type { ApiConfig } from './config';
import { CreateLimits } from './generations/create-limits';
import { GenerationJobs } from './generations/generation-jobs';
import { GenerationViews } from './generations/generation.mapper';
import { GenerationRepository } from './generations/generation.repository';
import { GenerationRequests } from './generations/generation-request';
import { GenerationRetryService } from './generations/generation-retry.service';
import { GenerationService } from './generations/generation.service';
import { GenerationStreams } from './generations/generation-streams';
import { IdempotencyRepository } from './generations/idempotency.repository';
import { ImageRepository } from './generations/image.repository';
import { RetryLocks } from './generations/retry-locks';
import { ApiMetrics } from './http/metrics';
import { EventHub } from './infra/event-hub';
import { JobQueue } from './infra/job-queue';
import { QueuePlaceBoard } from './infra/queue-place-board';
import { QueueStandings } from './infra/queue-standing';
import { StreamSlots } from './infra/stream-slots';
import { ModelCatalog } from './models/model-catalog';
import type { UserRepository } from './users/user.repository';
import { RedeliveryLimits } from './webhooks/redelivery-limits';
import { WebhookDeliveryRepository } from './webhooks/webhook-delivery.repository';
import { WebhookDeliveryService } from './webhooks/webhook-delivery.service';
import { WebhookSecretRepository } from './webhooks/webhook-secret.repository';
import { WebhookSecretService } from './webhooks/webhook-secret.service';

export interface Composed {
  deps: AppDeps;
  close(): Promise<void>;
}

/** Builds the API's services from its config and connections: the one place they are wired. */
export function compose(
  config: ApiConfig,
  db: Db,
  redis: Redis,
  logger: Logger,
  tokens: TokenService,
  users: UserRepository,
  secret: string,
): Composed {
  // BullMQ defines its dozens of scripts on the connection it is given, and ioredis copies every
  // script of a connection into each MULTI and pipeline made on it: sharing one connection made
  // each of our MULTIs (events, limits) cost more than the command itself.
  const queueRedis = redis.duplicate();
  queueRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error (queues)'));
  const queue = <T extends object>(name: string) => new JobQueue<T>(queueRedis, name, config.QUEUE_PREFIX, logger);
  const generationQueue = queue<GenerationJobData>(QUEUES.generations);
  const webhookQueue = queue<WebhookJobData>(QUEUES.webhooks);
  const deadlineQueue = queue<DeadlineJobData>(QUEUES.deadlines);

  const events = new GenerationEvents(redis, config.QUEUE_PREFIX);
  const hub = EventHub.start(redis, events.channel, logger);
  const webhookSecrets = new WebhookSecretService(new WebhookSecretRepository(db));
  const inFlight = new InFlightGenerations(redis, config.QUEUE_PREFIX);
  const lifecycle = new GenerationLifecycle(
    events,
    new WebhookNotifier(db, webhookQueue, config.PUBLIC_BASE_URL),
    inFlight,
    config.PUBLIC_BASE_URL,
  );
  // Creates and GET /api/models share it; its cache is in Redis, shared with the other instances and the workers.
  const models = new ModelCatalog(
    {
      backend: config.backend,
      defaultModel: config.HF_MODEL,
      ...(config.HF_ALLOWED_MODELS && { allowedModels: config.HF_ALLOWED_MODELS }),
      preference: config.HF_PROVIDER,
      openaiModel: config.OPENAI_API_KEY ? config.OPENAI_MODEL : null,
    },
    new ProviderMappings(redisMappingCache(redis, config.QUEUE_PREFIX), {
      hubUrl: config.HF_HUB_URL,
      token: config.HF_TOKEN,
      ttlMs: config.HF_MAPPING_TTL_MS,
    }),
  );
  const generationRepository = new GenerationRepository(db);
  const jobs = new GenerationJobs(generationQueue, deadlineQueue);
  // Creates and retries (the user's and an admin's) share them: a run costs the same either way.
  const limits = new CreateLimits(redis, config.QUEUE_PREFIX, generationRepository, inFlight, {
    perWindow: config.CREATE_RATE_LIMIT,
    windowSeconds: Math.ceil(config.CREATE_RATE_WINDOW / 1000),
    maxInFlight: config.MAX_IN_FLIGHT_PER_USER,
  });
  const retries = new GenerationRetryService(
    generationRepository,
    jobs,
    lifecycle,
    limits,
    new RetryLocks(redis, config.QUEUE_PREFIX),
  );
  const views = new GenerationViews(config.PUBLIC_BASE_URL);
  const standings = new QueueStandings(redis, generationQueue.queue, new RunTimes(redis, config.QUEUE_PREFIX));
  const places = new QueuePlaceBoard(standings, config.EVENTS_QUEUE_PLACE_MS);
  const streams = new GenerationStreams(
    events,
    hub,
    views,
    standings,
    places,
    new StreamSlots(redis, config.QUEUE_PREFIX, config.EVENTS_STREAMS_PER_USER),
    {
      heartbeatMs: config.EVENTS_HEARTBEAT_MS,
      perInstance: config.EVENTS_STREAMS_PER_INSTANCE,
      perUser: config.EVENTS_STREAMS_PER_USER,
    },
  );
  const generations = new GenerationService({
    generations: generationRepository,
    images: new ImageRepository(db),
    requests: new GenerationRequests(
      {
        webhookTargets: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
        defaultCancelAfterMs: config.DEFAULT_CANCEL_AFTER ?? null,
      },
      models,
      webhookSecrets,
    ),
    jobs,
    idempotency: new IdempotencyRepository(db),
    lifecycle,
    canceller: new GenerationCanceller(db, redis, config.QUEUE_PREFIX, generationQueue.queue, lifecycle),
    retries,
    standings,
    views,
    limits,
  });
  const metrics = new ApiMetrics([generationQueue.queue, webhookQueue.queue, deadlineQueue.queue]);
  const hashes = new HashQueue(
    { concurrency: config.PASSWORD_HASH_CONCURRENCY, queue: config.PASSWORD_HASH_QUEUE },
    metrics.registry,
  );
  const auth = new AuthService(users, tokens, {
    autoRegister: config.AUTH_AUTO_REGISTER,
    throttle: new LoginThrottle(redis, config.QUEUE_PREFIX, {
      perAccount: config.LOGIN_FAILURES_PER_ACCOUNT,
      perIp: config.LOGIN_FAILURES_PER_IP,
      windowSeconds: Math.ceil(config.LOGIN_FAILURE_WINDOW / 1000),
    }),
    registrations: new RegisterThrottle(redis, config.QUEUE_PREFIX, {
      perIp: config.REGISTER_PER_IP,
      windowSeconds: Math.ceil(config.REGISTER_WINDOW / 1000),
    }),
    hashes,
  });
  const admin = buildAdmin({
    auth,
    tokens,
    secret,
    sessionTtlSeconds: config.ADMIN_SESSION_TTL_SECONDS,
    readOnly: config.ADMIN_DASHBOARD_READONLY,
    users,
    generations: generationRepository,
    retries,
    views,
    generationQueue: generationQueue.queue,
    otherQueues: [webhookQueue.queue, deadlineQueue.queue],
    redis,
    prefix: config.QUEUE_PREFIX,
  });

  return {
    deps: {
      admin,
      trustProxy: config.TRUST_PROXY,
      db,
      redis: [redis, queueRedis],
      logger,
      metrics,
      passwordHashing: hashes,
      auth,
      tokens,
      authenticator: new Authenticator(tokens, users, config.AUTH_ACCOUNT_CACHE_MS),
      generations,
      streams,
      models,
      webhookSecrets,
      webhookDeliveries: new WebhookDeliveryService(
        generationRepository,
        new WebhookDeliveryRepository(db),
        webhookQueue,
        new RedeliveryLimits(redis, config.QUEUE_PREFIX, {
          perUser: config.WEBHOOK_REDELIVERIES_PER_USER,
          perMessage: config.WEBHOOK_REDELIVERIES_PER_MESSAGE,
          windowSeconds: Math.ceil(config.WEBHOOK_REDELIVERY_WINDOW / 1000),
        }),
      ),
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      corsOrigins: config.CORS_ORIGINS,
    },
    async close() {
      places.stop();
      hub.close();
      await Promise.all([generationQueue.close(), webhookQueue.close(), deadlineQueue.close()]);
      queueRedis.disconnect();
    },
  };
}
