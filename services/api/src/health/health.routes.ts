import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { RedisClient } from '@imagegen/core';
import type { Db } from 'mongodb';
import { withTimeout } from '@imagegen/core';
import { Liveness, Readiness, type ApiSuccess, type DependencyState } from '@imagegen/shared';
import { RouteTable } from '../http/route';
import { json, success } from '../openapi/responses';

const CHECK_TIMEOUT_MS = 2_000;

/** `ok` when `check` answers within CHECK_TIMEOUT_MS; `unreachable` when it fails or is late. */
function dependencyState(check: Promise<unknown>): Promise<DependencyState> {
  return withTimeout(check, CHECK_TIMEOUT_MS, () => new Error('timeout')).then(
    () => 'ok' as const,
    () => 'unreachable' as const,
  );
}

/**
 * `/healthz`: the process answers. `/readyz`: it can do work, i.e. MongoDB and Redis answer, its
 * password hashing queue has room (while it is full, sign-ins and registrations get 503, so a load
 * balancer should send them elsewhere), and it is not shutting down (it still serves while it
 * drains, but should be sent nothing new).
 */
export function healthRoutes(
  docs: OpenAPIRegistry,
  db: Db,
  redis: RedisClient[],
  stopping: () => boolean,
  passwordHashing: { readonly saturated: boolean },
): RouteTable {
  const routes = RouteTable.open(docs, '', 'Health');

  routes.get('/healthz', {
    summary: 'Liveness: the process answers',
    responses: { 200: success('Alive', Liveness) },
    handler: ({ res }) => {
      const body: ApiSuccess<Liveness> = { success: true, message: 'ok', data: { status: 'ok' } };
      res.json(body);
    },
  });

  routes.get('/readyz', {
    summary: 'Readiness: MongoDB and Redis answer, password hashing has room, and the process is not shutting down',
    responses: {
      200: { description: 'Ready', content: json(Readiness) },
      503: {
        description:
          'Send it no work: a dependency is unreachable, its password hashing is saturated, or it is shutting down',
        content: json(Readiness),
      },
    },
    handler: async ({ res }) => {
      if (stopping()) {
        const body: Readiness = { success: false, message: 'shutting down', data: { stopping: true } };
        res.status(503).json(body);
        return;
      }
      const [mongodb, redisState] = await Promise.all([
        dependencyState(db.command({ ping: 1 })),
        dependencyState(Promise.all(redis.map((connection) => connection.ping()))),
      ]);
      const hashing = passwordHashing.saturated ? 'saturated' : 'ok';
      const ready = mongodb === 'ok' && redisState === 'ok' && hashing === 'ok';
      const body: Readiness = {
        success: ready,
        message: ready ? 'ready' : 'not ready',
        data: { mongodb, redis: redisState, password_hashing: hashing },
      };
      res.status(ready ? 200 : 503).json(body);
    },
  });

  return routes;
}
