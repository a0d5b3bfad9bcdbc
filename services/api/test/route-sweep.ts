import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { QUEUES, redisTarget } from '@imagegen/shared';
import { connectMongo, createRedis } from '@imagegen/core';
import type { Isolation } from '../../../test/support/isolation';
import { createApp } from '../src/app';
import { createTokenService } from '../src/auth/token.service';
import { compose } from '../src/compose';
import { loadApiConfig } from '../src/config';
import { UserRepository } from '../src/users/user.repository';
import { Passwords } from '../src/auth/password';
import { JWT_SECRET, apiEnv, type Harness } from './api-harness';

// The routes of the API that take a bearer token, as a table the sweeps run over, and a way to
// list what the app really serves (Express 5's router stack), so the table cannot fall behind.

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route's path parameters and body are filled with. */
export interface RouteContext {
  /** A generation id for `:id` of the generation routes. */
  generationId: string;
  /** A user id for `:id` of `/api/admin/users/:id`. */
  userId: string;
}

export interface BearerRoute {
  method: Method;
  /** Path template as registered, e.g. `/api/generations/:id/cancel`. */
  path: string;
  /** Whose bearer token opens it: any user's, or an admin's only. */
  role: 'user' | 'admin';
  /** What `:id` names (generation routes: a generation). */
  idOf?: 'generation' | 'user';
  /** A valid body, for routes that take one. */
  body?: (ctx: RouteContext) => unknown;
  /** A live event stream: a success keeps the connection open, so the client hangs up after the headers. */
  stream?: boolean;
}

/** Every route of the API that needs a bearer token (`/api/...`); the guard test keeps this complete. */
export const BEARER_ROUTES: readonly BearerRoute[] = [
  { method: 'POST', path: '/api/generations', role: 'user', body: () => ({ prompt: 'A lighthouse in a storm' }) },
  { method: 'GET', path: '/api/generations', role: 'user' },
  { method: 'GET', path: '/api/generations/:id', role: 'user', idOf: 'generation' },
  { method: 'GET', path: '/api/generations/:id/image', role: 'user', idOf: 'generation' },
  { method: 'GET', path: '/api/generations/:id/images/:index', role: 'user', idOf: 'generation' },
  { method: 'POST', path: '/api/generations/:id/cancel', role: 'user', idOf: 'generation' },
  { method: 'POST', path: '/api/generations/:id/retry', role: 'user', idOf: 'generation' },
  { method: 'POST', path: '/api/generations/:id/events/token', role: 'user', idOf: 'generation' },
  { method: 'GET', path: '/api/generations/:id/events', role: 'user', idOf: 'generation', stream: true },
  { method: 'GET', path: '/api/generations/:id/webhook-deliveries', role: 'user', idOf: 'generation' },
  { method: 'POST', path: '/api/generations/:id/webhook-deliveries/redeliver', role: 'user', idOf: 'generation' },
  { method: 'GET', path: '/api/models', role: 'user' },
  { method: 'GET', path: '/api/usage', role: 'user' },
  { method: 'GET', path: '/api/webhooks/secret', role: 'user' },
  { method: 'POST', path: '/api/webhooks/secret/rotate', role: 'user' },
  { method: 'GET', path: '/api/admin/queues', role: 'admin' },
  { method: 'GET', path: '/api/admin/generations', role: 'admin' },
  { method: 'GET', path: '/api/admin/usage', role: 'admin' },
  { method: 'POST', path: '/api/admin/generations/:id/retry', role: 'admin', idOf: 'generation' },
  { method: 'PATCH', path: '/api/admin/users/:id', role: 'admin', idOf: 'user', body: () => ({ role: 'user' }) },
  // The deleting routes last: a sweep's call with a valid token really deletes (the owner's
  // generation, the owner, the target user), and no route after them must need what went.
  { method: 'DELETE', path: '/api/generations/:id', role: 'user', idOf: 'generation' },
  { method: 'DELETE', path: '/api/users/me', role: 'user', body: () => ({ password: 'password123' }) },
  { method: 'DELETE', path: '/api/admin/users/:id', role: 'admin', idOf: 'user' },
];

/** The `/api` routes anyone may call without a token. */
export const PUBLIC_API_ROUTES: readonly string[] = ['POST /api/auth/register', 'POST /api/auth/login'];

export const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

/** The route's path with its parameters filled in from `ctx`. */
export function pathOf(route: BearerRoute, ctx: RouteContext): string {
  return route.path.replace(/:(\w+)/g, (_match, name: string) => {
    // The first image, which every completed generation has.
    if (name === 'index') return '0';
    if (name !== 'id') throw new Error(`no value for :${name} in ${route.path}: extend RouteContext`);
    return route.idOf === 'user' ? ctx.userId : ctx.generationId;
  });
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  /** The body as sent ('' for a stream that was cut after its headers). */
  text: string;
}

/** Sends the route's request (with its valid body, if it takes one) and reads the raw answer. */
export async function callRoute(
  baseUrl: string,
  route: BearerRoute,
  ctx: RouteContext,
  headers: Record<string, string> = {},
  query = '',
): Promise<RawAnswer> {
  const body = route.body?.(ctx);
  return rawRequest(baseUrl, route.method, pathOf(route, ctx) + query, { headers, body });
}

/**
 * One request, read to the end; an event stream (which a successful events request stays) is
 * cut as soon as its headers arrive.
 */
export async function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<RawAnswer> {
  const { headers = {}, body } = options;
  const abort = new AbortController();
  const res = await fetch(baseUrl + path, {
    method,
    signal: abort.signal,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    abort.abort();
    await res.body?.cancel().catch(() => undefined);
    return { status: res.status, headers: res.headers, text: '' };
  }
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

// ---------------------------------------------------------------------------------------------
// What the app serves, read from Express 5's router stack
// ---------------------------------------------------------------------------------------------

interface StackLayer {
  /** router 2.x: the path the layer was registered with (`app.use(path, ...)`, `router.get(path, ...)`). */
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: StackLayer[] };
}

/** `prefix` is '/' for a router mounted without a path (`app.use(router)`), whose routes are its own. */
const joinPath = (prefix: string, path: string) =>
  ((prefix === '/' ? '' : prefix) + (path === '/' ? '' : path)).replace(/\/+$/, '') || '/';

function pathsOf(rawPath: unknown, where: string): string[] {
  const paths = Array.isArray(rawPath) ? rawPath.flat(Infinity) : [rawPath];
  return paths.map((path) => {
    if (typeof path !== 'string') {
      throw new Error(`a layer at ${where} has no string path (${String(path)}): the router internals changed`);
    }
    return path;
  });
}

function walk(stack: StackLayer[], prefix: string, out: Set<string>): void {
  for (const layer of stack) {
    if (layer.route) {
      const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all');
      for (const path of pathsOf(layer.route.path, prefix)) {
        for (const method of methods.length ? methods : ['ALL']) {
          out.add(`${method.toUpperCase()} ${joinPath(prefix, path)}`);
        }
      }
    } else if (Array.isArray(layer.handle?.stack)) {
      if (layer.rawPath === undefined) {
        throw new Error(`a router mounted under ${prefix || '/'} shows no rawPath: the router internals changed`);
      }
      for (const path of pathsOf(layer.rawPath, prefix)) walk(layer.handle.stack, joinPath(prefix, path), out);
    }
  }
}

/** `METHOD /path` of every route of the Express app, mounted routers included. */
export function routesOf(app: unknown): Set<string> {
  const router = (app as { router?: { stack?: StackLayer[] } }).router;
  if (!Array.isArray(router?.stack)) throw new Error('the app has no router stack: Express internals changed');
  const out = new Set<string>();
  walk(router.stack, '', out);
  return out;
}

/** The routes the API serves under `/api` (see `servedRoutes`). */
export async function servedApiRoutes(iso: Isolation, extra: Record<string, string> = {}): Promise<string[]> {
  return (await servedRoutes(iso, extra)).filter((route) => route.split(' ')[1]!.startsWith('/api/'));
}

/**
 * Every route the API serves, read from an app assembled as `startApi` assembles it (`compose`
 * then `createApp`), on the given isolation's database and Redis.
 */
export async function servedRoutes(iso: Isolation, extra: Record<string, string> = {}): Promise<string[]> {
  const config = loadApiConfig(apiEnv(iso, extra));
  const mongo = await connectMongo(config.MONGODB_URI);
  const redis = createRedis(redisTarget(config), 'fail-fast');
  const composed = compose(
    config,
    mongo.db,
    redis,
    pino({ level: 'silent' }),
    createTokenService(JWT_SECRET, config.JWT_TTL_SECONDS),
    new UserRepository(mongo.db),
    new Passwords(config.PASSWORD_HASH_COST),
    JWT_SECRET,
  );
  try {
    return [...routesOf(createApp(composed.deps))].sort();
  } finally {
    await composed.close();
    redis.disconnect();
    await mongo.client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Everything the API could have written: every collection and every queue's job counts
// ---------------------------------------------------------------------------------------------

export interface World {
  collections: Record<string, unknown[]>;
  jobs: Record<string, Record<string, number>>;
}

/** Takes snapshots of the harness's database and queues, to show a request wrote nothing. */
export class WorldWatch {
  private readonly redis: Redis;
  private readonly queues: Queue[];

  constructor(private readonly h: Harness) {
    this.redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    this.queues = Object.values(QUEUES).map(
      (name) => new Queue(name, { connection: this.redis, prefix: h.iso.queuePrefix }),
    );
  }

  async snapshot(): Promise<World> {
    const collections: Record<string, unknown[]> = {};
    for (const { name } of await this.h.db.listCollections({}, { nameOnly: true }).toArray()) {
      collections[name] = await this.h.db.collection(name).find().sort({ _id: 1 }).toArray();
    }
    const jobs: Record<string, Record<string, number>> = {};
    for (const queue of this.queues) jobs[queue.name] = await queue.getJobCounts();
    return { collections, jobs };
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
    this.redis.disconnect();
  }
}
