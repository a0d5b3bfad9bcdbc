import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { ApiSuccess, DependencyState, Liveness, Readiness } from '@imagegen/shared';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout(check: Promise<unknown>): Promise<DependencyState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
  });
  return Promise.race([check, timeout])
    .then(() => 'ok' as const)
    .catch(() => 'unreachable' as const)
    .finally(() => clearTimeout(timer));
}

/**
 * `/healthz`: the process answers. `/readyz`: it can do work, i.e. MongoDB and Redis answer, its
 * password hashing queue has room (while it is full, sign-ins and registrations get 503, so a load
 * balancer should send them elsewhere), and it is not shutting down (it still serves while it
 * drains, but should be sent nothing new).
 */
export function healthRoutes(
  db: Db,
  redis: Redis[],
  stopping: () => boolean,
  passwordHashing: { readonly saturated: boolean },
): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    const body: ApiSuccess<Liveness> = { success: true, message: 'ok', data: { status: 'ok' } };
    res.json(body);
  });

  router.get('/readyz', async (_req, res) => {
    if (stopping()) {
      const body: Readiness = { success: false, message: 'shutting down', data: { stopping: true } };
      res.status(503).json(body);
      return;
    }
    const [mongodb, redisState] = await Promise.all([
      withTimeout(db.command({ ping: 1 })),
      withTimeout(Promise.all(redis.map((connection) => connection.ping()))),
    ]);
    const hashing = passwordHashing.saturated ? 'saturated' : 'ok';
    const ready = mongodb === 'ok' && redisState === 'ok' && hashing === 'ok';
    const body: Readiness = {
      success: ready,
      message: ready ? 'ready' : 'not ready',
      data: { mongodb, redis: redisState, password_hashing: hashing },
    };
    res.status(ready ? 200 : 503).json(body);
  });

  return router;
}
