import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { redisTarget } from '@imagegen/shared';
import { connectMongo, createRedis, redisReady, type Logger } from '@imagegen/core';
import { ensureAdmin } from './admin/admin-bootstrap';
import { Passwords } from './auth/password';
import { createApp } from './app';
import { compose } from './compose';
import { gracefulClose } from './http/graceful-close';
import { requestTimeouts } from './http/request-timeouts';
import { createTokenService } from './auth/token.service';
import type { ApiConfig } from './config';
import { UserRepository } from './users/user.repository';

/** How long a start waits for Redis before it listens all the same (and `/readyz` says Redis is away). */
const REDIS_START_WAIT_MS = 5_000;

export interface RunningApi {
  port: number;
  /** Event streams open now, for tests and metrics. */
  openStreams(): number;
  stop(): Promise<void>;
}

/** Connects to MongoDB and Redis, then listens. `PORT=0` picks a free port (tests). */
export async function startApi(config: ApiConfig, logger: Logger): Promise<RunningApi> {
  const mongo = await connectMongo(config.MONGODB_URI, { writeConcern: config.MONGODB_WRITE_CONCERN });
  const redis = createRedis(redisTarget(config), 'fail-fast');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const secret = jwtSecret(config, logger);
  const tokens = createTokenService(secret, config.JWT_TTL_SECONDS);
  const users = new UserRepository(mongo.db);
  const passwords = new Passwords(config.PASSWORD_HASH_COST);
  await ensureAdmin(
    users,
    passwords,
    { email: config.ADMIN_EMAIL, password: config.ADMIN_PASSWORD, promoteExisting: config.ADMIN_PROMOTE_EXISTING },
    logger,
  );
  const composed = compose(config, mongo.db, redis, logger, tokens, users, passwords, secret);
  const server = createServer(requestTimeouts(config.HTTP_REQUEST_TIMEOUT_MS, config.HTTP_HEADERS_TIMEOUT_MS));
  const closer = gracefulClose(server);
  server.on(
    'request',
    createApp(composed.deps, () => closer.draining),
  );
  await redisReady(redis, REDIS_START_WAIT_MS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, queuePrefix: config.QUEUE_PREFIX }, 'api listening');
  if (config.WEBHOOK_ALLOW_PRIVATE) {
    logger.warn('WEBHOOK_ALLOW_PRIVATE is on: webhook URLs may name private and loopback addresses');
  }
  if (config.TRUST_PROXY === true) {
    // Refused in production (see the config); elsewhere it may stand for a local proxy, but not unnoticed.
    logger.warn(
      'TRUST_PROXY is true: any client can pick the address it is counted under (per-IP sign-in limit, logs) ' +
        'by sending X-Forwarded-For; set the hop count of the proxies in front (e.g. 1) or their addresses',
    );
  }

  return {
    port,
    openStreams: () => composed.deps.streams.openCount,
    async stop() {
      const closing = closer.close(config.SHUTDOWN_DRAIN_MS);
      // Open event streams and `Prefer: wait` creates would hold the close until the shutdown bound;
      // other requests finish.
      composed.deps.streams.closeAll();
      composed.deps.waits.stopAll();
      await closing;
      await composed.close();
      redis.disconnect();
      await mongo.client.close();
    },
  };
}

function jwtSecret(config: ApiConfig, logger: Logger): string {
  if (config.JWT_SECRET) return config.JWT_SECRET;
  // Only outside production (the config refuses production without one): tokens last until restart.
  logger.warn('JWT_SECRET is not set: using a random secret, so tokens stop working when the API restarts');
  return randomBytes(32).toString('hex');
}
