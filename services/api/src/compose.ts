import { duplicateRedis, type RedisClient } from '@imagegen/core';
import type { Db } from 'mongodb';
import { QUEUES } from '@imagegen/shared';
import {
  AccountDeleter,
  GenerationCanceller,
  GenerationDeleter,
  GenerationEvents,
  GenerationLifecycle,
  GenerationStore,
  InFlightGenerations,
  PendingRuns,
  QuotaLedger,
  RunTimes,
  WebhookNotifier,
  imageStoreFrom,
  type Logger,
} from '@imagegen/core';
import { buildAdmin } from './admin/admin';
import type { AppDeps } from './app';
import { buildAccounts } from './auth/accounts';
import type { Passwords } from './auth/password';
import { Authenticator } from './auth/authenticator';
import type { TokenService } from './auth/token.service';
import type { ApiConfig } from './config';
import { CreateLimits } from './generations/create-limits';
import { GenerationDeletionService } from './generations/generation-deletion.service';
import { GenerationJobs } from './generations/generation-jobs';
import { GenerationMapper } from './generations/generation.mapper';
import { GenerationRepository } from './generations/generation.repository';
import { GenerationRequests } from './generations/generation-request';
import { GenerationRetryService } from './generations/generation-retry.service';
import { GenerationService } from './generations/generation.service';
import { GenerationStreams } from './generations/generation-streams';
import { GenerationWaitService } from './generations/generation-wait.service';
import { IdempotencyRepository } from './generations/idempotency.repository';
import { ImageLinks } from './generations/image-links';
import { createAuth } from './http/auth';
import { ApiMetrics } from './http/metrics';
import { EventHub } from './infra/event-hub';
import { FailFastJobQueues } from './infra/job-queues';
import { QueuePlaceBoard } from './infra/queue-place-board';
import { QueueStandings } from './infra/queue-standing';
import { StreamSlots } from './infra/stream-slots';
import { configuredModelCatalog } from './models/configured-model-catalog';
import { QuotaGate } from './usage/quota-gate';
import { QuotaRecords } from './usage/quota-records';
import { UsageRepository } from './usage/usage.repository';
import { UsageService } from './usage/usage.service';
import { AccountDeletionService } from './users/account-deletion.service';
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
  redis: RedisClient,
  logger: Logger,
  tokens: TokenService,
  users: UserRepository,
  passwords: Passwords,
  secret: string,
): Composed {
  // BullMQ defines its dozens of scripts on the connection it is given, and ioredis copies every
  // script of a connection into each MULTI and pipeline made on it: sharing one connection made
  // each of our MULTIs and pipelines cost more than the command itself. The events, written by
  // one script each, share it (PendingRuns).
  const queueRedis = duplicateRedis(redis, 'fail-fast');
  queueRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error (queues)'));
  const queues = new FailFastJobQueues(queueRedis, config.QUEUE_PREFIX, logger);
  const generationQueue = queues.queue(QUEUES.generations);

  // On the jobs' connection: a create's announcement and its job then go in one round trip (PendingRuns).
  const events = new GenerationEvents(queueRedis, config.QUEUE_PREFIX);
  const hub = EventHub.start(redis, events.channel, logger);
  const webhookSecrets = new WebhookSecretService(new WebhookSecretRepository(db));
  const inFlight = new InFlightGenerations(redis, config.QUEUE_PREFIX);
  const quotaLedger = new QuotaLedger(redis, config.QUEUE_PREFIX);
  const lifecycle = new GenerationLifecycle(
    events,
    new WebhookNotifier(db, queues, config.PUBLIC_BASE_URL),
    inFlight,
    config.PUBLIC_BASE_URL,
    quotaLedger,
  );
  const models = configuredModelCatalog(config, redis);
  const generationRepository = new GenerationRepository(db, config.MONGODB_READ_PREFERENCE);
  const store = new GenerationStore(db);
  const pending = new PendingRuns(lifecycle, queues, queueRedis);
  const jobs = new GenerationJobs(queues);
  const images = imageStoreFrom(config, db);
  const mapper = new GenerationMapper(
    config.PUBLIC_BASE_URL,
    new ImageLinks(images, config.IMAGE_URLS === 'presigned', config.IMAGE_URL_TTL),
  );
  const standings = new QueueStandings(redis, generationQueue, new RunTimes(redis, config.QUEUE_PREFIX));
  // Creates and retries (the user's and an admin's) share them: a run costs the same either way.
  const quotas = new QuotaGate(quotaLedger, new QuotaRecords(db), users, {
    day: config.QUOTA_IMAGES_PER_DAY ?? null,
    month: config.QUOTA_IMAGES_PER_MONTH ?? null,
  });
  const limits = new CreateLimits(
    redis,
    config.QUEUE_PREFIX,
    generationRepository,
    inFlight,
    standings,
    {
      perWindow: config.CREATE_RATE_LIMIT,
      windowSeconds: Math.ceil(config.CREATE_RATE_WINDOW / 1000),
      maxInFlight: config.MAX_IN_FLIGHT_PER_USER,
    },
    quotas,
    quotaLedger,
  );
  const retries = new GenerationRetryService(store, pending, jobs, limits);
  const places = new QueuePlaceBoard(standings, config.EVENTS_QUEUE_PLACE_MS);
  const streams = new GenerationStreams(
    { events, hub, mapper, standings, places, heartbeatMs: config.EVENTS_HEARTBEAT_MS },
    new StreamSlots(redis, config.QUEUE_PREFIX, config.EVENTS_STREAMS_PER_USER),
    { perInstance: config.EVENTS_STREAMS_PER_INSTANCE, perUser: config.EVENTS_STREAMS_PER_USER },
  );
  const canceller = new GenerationCanceller(store, redis, config.QUEUE_PREFIX, generationQueue, lifecycle);
  const deleter = new GenerationDeleter({ db, images, events, inFlight, canceller, queues });
  const generations = new GenerationService({
    generations: generationRepository,
    store,
    images,
    requests: new GenerationRequests(
      {
        webhookTargets: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
        defaultCancelAfterMs: config.DEFAULT_CANCEL_AFTER ?? null,
      },
      models,
      webhookSecrets,
    ),
    pending,
    idempotency: new IdempotencyRepository(db),
    canceller,
    retries,
    standings,
    mapper,
    limits,
  });
  const metrics = new ApiMetrics(queues.all());
  const { accounts, hashes } = buildAccounts(config, redis, users, tokens, passwords, metrics.registry);
  const authenticator = new Authenticator(tokens, users, config.AUTH_ACCOUNT_CACHE_MS);
  const auth = createAuth({ authenticator, tokens, users });
  const accountDeletions = new AccountDeletionService(users, accounts, new AccountDeleter(db, deleter), authenticator);
  const admin = buildAdmin({
    config,
    auth,
    accounts,
    tokens,
    secret,
    users,
    accountDeletions,
    retries,
    redis,
    mapper,
    generations: generationRepository,
    generationQueue,
    otherQueues: [queues.queue(QUEUES.webhooks), queues.queue(QUEUES.deadlines)],
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
      accounts,
      auth,
      tokens,
      generations,
      usage: new UsageService(new UsageRepository(db), users, quotas, quotaLedger),
      generationDeletions: new GenerationDeletionService(generationRepository, deleter),
      accountDeletions,
      waits: new GenerationWaitService(generations, hub, events, config.CREATE_WAIT_SECONDS),
      streams,
      models,
      webhookSecrets,
      webhookDeliveries: new WebhookDeliveryService(
        generationRepository,
        new WebhookDeliveryRepository(db),
        queues,
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
      await Promise.all([queues.close(), images.close()]);
      queueRedis.disconnect();
    },
  };
}
