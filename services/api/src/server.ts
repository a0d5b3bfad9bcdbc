import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { connectMongo, createRedis, type Logger } from '@imagegen/shared';
import { createApp } from './app';
import { AuthService } from './auth/auth.service';
import { createTokenService } from './auth/token.service';
import type { ApiConfig } from './config';
import { GenerationRepository } from './generations/generation.repository';
import { GenerationService } from './generations/generation.service';
import { ImageRepository } from './generations/image.repository';
import { GenerationQueue } from './infra/generation-queue';
import { UserRepository } from './users/user.repository';

export interface RunningApi {
  port: number;
  stop(): Promise<void>;
}

/** Connects to MongoDB and Redis, then listens. `PORT=0` picks a free port (tests). */
export async function startApi(config: ApiConfig, logger: Logger): Promise<RunningApi> {
  const mongo = await connectMongo(config.MONGODB_URI);
  const redis = createRedis(config.REDIS_URL, 'fail-fast');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const queue = new GenerationQueue(redis, config.QUEUE_PREFIX, logger);

  const tokens = createTokenService(jwtSecret(config, logger), config.JWT_TTL_SECONDS);
  const auth = new AuthService(new UserRepository(mongo.db), tokens, { autoRegister: config.AUTH_AUTO_REGISTER });
  const generations = new GenerationService(new GenerationRepository(mongo.db), new ImageRepository(mongo.db), queue, {
    defaultModel: config.HF_MODEL,
    ...(config.HF_ALLOWED_MODELS && { allowedModels: config.HF_ALLOWED_MODELS }),
  });
  const app = createApp({
    db: mongo.db,
    redis,
    logger,
    auth,
    tokens,
    generations,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
  });

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, queuePrefix: config.QUEUE_PREFIX }, 'api listening');

  return {
    port,
    async stop() {
      await closeServer(server);
      await queue.close();
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
