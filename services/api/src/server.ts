import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import {
  QUEUES,
  connectMongo,
  createRedis,
  type GenerationJobData,
  type Logger,
  type WebhookJobData,
} from '@imagegen/shared';
import { ensureAdmin } from './admin/admin-bootstrap';
import { buildAdmin } from './admin/admin';
import { createApp } from './app';
import { AuthService } from './auth/auth.service';
import { createTokenService } from './auth/token.service';
import type { ApiConfig } from './config';
import { GenerationRepository } from './generations/generation.repository';
import { GenerationRetryService } from './generations/generation-retry.service';
import { GenerationService } from './generations/generation.service';
import { ImageRepository } from './generations/image.repository';
import { JobQueue } from './infra/job-queue';
import { UserRepository } from './users/user.repository';
import { WebhookDeliveryRepository } from './webhooks/webhook-delivery.repository';
import { WebhookDeliveryService } from './webhooks/webhook-delivery.service';
import { WebhookSecretRepository } from './webhooks/webhook-secret.repository';
import { WebhookSecretService } from './webhooks/webhook-secret.service';

export interface RunningApi {
  port: number;
  stop(): Promise<void>;
}

/** Connects to MongoDB and Redis, then listens. `PORT=0` picks a free port (tests). */
export async function startApi(config: ApiConfig, logger: Logger): Promise<RunningApi> {
  const mongo = await connectMongo(config.MONGODB_URI);
  const redis = createRedis(config.REDIS_URL, 'fail-fast');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const generationQueue = new JobQueue<GenerationJobData>(redis, QUEUES.generations, config.QUEUE_PREFIX, logger);
  const webhookQueue = new JobQueue<WebhookJobData>(redis, QUEUES.webhooks, config.QUEUE_PREFIX, logger);

  const secret = jwtSecret(config, logger);
  const tokens = createTokenService(secret, config.JWT_TTL_SECONDS);
  const users = new UserRepository(mongo.db);
  const auth = new AuthService(users, tokens, { autoRegister: config.AUTH_AUTO_REGISTER });
  await ensureAdmin(users, { email: config.ADMIN_EMAIL, password: config.ADMIN_PASSWORD }, logger);
  const generationRepository = new GenerationRepository(mongo.db);
  const webhookSecrets = new WebhookSecretService(new WebhookSecretRepository(mongo.db));
  const generations = new GenerationService({
    generations: generationRepository,
    images: new ImageRepository(mongo.db),
    queue: generationQueue,
    models: {
      defaultModel: config.HF_MODEL,
      ...(config.HF_ALLOWED_MODELS && { allowedModels: config.HF_ALLOWED_MODELS }),
    },
    webhookSecrets,
    webhookTargets: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
  });
  const webhookDeliveries = new WebhookDeliveryService(
    generationRepository,
    new WebhookDeliveryRepository(mongo.db),
    webhookQueue,
  );
  const admin = buildAdmin({
    auth,
    tokens,
    secret,
    sessionTtlSeconds: config.ADMIN_SESSION_TTL_SECONDS,
    readOnly: config.ADMIN_DASHBOARD_READONLY,
    users,
    generations: generationRepository,
    retries: new GenerationRetryService(generationRepository, generationQueue),
    generationQueue: generationQueue.queue,
    otherQueues: [webhookQueue.queue],
  });
  const app = createApp({
    admin,
    trustProxy: config.TRUST_PROXY,
    db: mongo.db,
    redis,
    logger,
    auth,
    tokens,
    generations,
    webhookSecrets,
    webhookDeliveries,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
  });

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, queuePrefix: config.QUEUE_PREFIX }, 'api listening');
  if (config.WEBHOOK_ALLOW_PRIVATE) {
    logger.warn('WEBHOOK_ALLOW_PRIVATE is on: webhook URLs may name private and loopback addresses');
  }

  return {
    port,
    async stop() {
      await closeServer(server);
      await Promise.all([generationQueue.close(), webhookQueue.close()]);
      redis.disconnect();
      await mongo.client.close();
    },
  };
}

/** Stops accepting connections, lets in-flight requests finish, and closes idle keep-alive sockets. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}

function jwtSecret(config: ApiConfig, logger: Logger): string {
  if (config.JWT_SECRET) return config.JWT_SECRET;
  // Only outside production (the config refuses production without one): tokens last until restart.
  logger.warn('JWT_SECRET is not set: using a random secret, so tokens stop working when the API restarts');
  return randomBytes(32).toString('hex');
}
