import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import cors from 'cors';
import express from 'express';
import type { RedisClient } from '@imagegen/core';
import type { Db } from 'mongodb';
import type { Logger } from '@imagegen/core';
import type { Admin } from './admin/admin';
import { adminRoutes } from './admin/admin.routes';
import { authRoutes } from './auth/auth.routes';
import type { AuthService } from './auth/auth.service';
import type { TokenService } from './auth/token.service';
import { generationEventRoutes } from './generations/generation-events.routes';
import { generationRoutes } from './generations/generations.routes';
import type { GenerationDeletionService } from './generations/generation-deletion.service';
import type { GenerationService } from './generations/generation.service';
import type { GenerationStreams } from './generations/generation-streams';
import type { GenerationWaitService } from './generations/generation-wait.service';
import { healthRoutes } from './health/health.routes';
import type { AuthGuard, AuthOptions } from './http/auth';
import { errorHandler, notFoundRoute } from './http/error-handler';
import { REQUEST_ID_HEADER, requestLog } from './http/request-log';
import type { ApiMetrics } from './http/metrics';
import { requireJson } from './http/require-json';
import { RouteTable } from './http/route';
import { securityHeaders } from './http/security-headers';
import type { ModelCatalog } from './models/model-catalog';
import { modelRoutes } from './models/models.routes';
import { apiDocsRoutes } from './openapi/docs.routes';
import { buildOpenApiDocument } from './openapi/document';
import { playgroundRoutes } from './web/playground.routes';
import { webhookDeliveryRoutes } from './webhooks/webhook-deliveries.routes';
import type { WebhookDeliveryService } from './webhooks/webhook-delivery.service';
import { webhookSecretRoutes } from './webhooks/webhook-secret.routes';
import type { WebhookSecretService } from './webhooks/webhook-secret.service';
import { usageRoutes } from './usage/usage.routes';
import type { UsageService } from './usage/usage.service';
import type { AccountDeletionService } from './users/account-deletion.service';
import { userRoutes } from './users/users.routes';

export interface AppDeps {
  admin: Admin;
  /** Express's `trust proxy`: which proxies' X-Forwarded-* to believe (client address, Secure cookies). */
  trustProxy: boolean | number | string[];
  db: Db;
  /** Every Redis connection the API works through (its own, and BullMQ's): all must answer for /readyz. */
  redis: RedisClient[];
  logger: Logger;
  /** Prometheus metrics, served at `/metrics`. */
  metrics: ApiMetrics;
  /** Whether the password hashing queue is full, which `/readyz` reports. */
  passwordHashing: { readonly saturated: boolean };
  /** Registration and sign-in. */
  accounts: AuthService;
  /** The guard of each kind of caller (`auth({scope})`). */
  auth: (options: AuthOptions) => AuthGuard;
  tokens: TokenService;
  generations: GenerationService;
  /** `GET /api/usage` and `GET /api/admin/usage`, and the quota overrides the admin API sets. */
  usage: UsageService;
  /** `DELETE /api/generations/:id`. */
  generationDeletions: GenerationDeletionService;
  /** `DELETE /api/users/me`. */
  accountDeletions: AccountDeletionService;
  /** Creates that wait for their generation (`Prefer: wait`). */
  waits: GenerationWaitService;
  streams: GenerationStreams;
  /** The models a user may ask for, and the providers that serve each (`/api/models`). */
  models: ModelCatalog;
  webhookSecrets: WebhookSecretService;
  webhookDeliveries: WebhookDeliveryService;
  bodyLimitBytes: number;
  /** Origins whose browser pages may call `/api` (`*` for any); empty: CORS stays off. */
  corsOrigins: string[];
}

/** Headers a browser page of an allowed origin may read from our answers. */
const EXPOSED_HEADERS = [
  REQUEST_ID_HEADER,
  'Retry-After',
  'Location',
  'ETag',
  'Idempotent-Replayed',
  'Preference-Applied',
];

/** `stopping`: true once a shutdown has begun, so that `/readyz` turns load balancers away. */
export function createApp(deps: AppDeps, stopping: () => boolean = () => false): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy);
  // Not `upgrade-insecure-requests`: over plain HTTP (a LAN host, Safari even on localhost) it
  // sends the dashboard's own scripts to https, where nothing answers.
  app.use(
    requestLog(deps.logger),
    deps.metrics.timing(),
    // `blob:` images: the playground shows images it fetched with the user's token as object URLs.
    securityHeaders({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, imgSrc: ["'self'", 'data:', 'blob:'] } },
    }),
  );
  if (deps.corsOrigins.length > 0) {
    const origin = deps.corsOrigins.includes('*') ? '*' : deps.corsOrigins;
    app.use('/api', cors({ origin, exposedHeaders: EXPOSED_HEADERS, maxAge: 600 }));
  }
  // Strict routing stays off, so `/api/generations` and `/api/generations/` (where the original API's clients
  // post) are one route.
  app.use('/api', requireJson, express.json({ limit: deps.bodyLimitBytes, strict: true }));

  // Each table declares its routes in the OpenAPI registry as it is built; the document is made once all are.
  const docs = new OpenAPIRegistry();
  const user = deps.auth({ scope: 'user' });
  const health = healthRoutes(docs, deps.db, deps.redis, stopping, deps.passwordHashing);
  const auth = authRoutes(docs, deps.accounts);
  const generations = generationRoutes(docs, user, {
    service: deps.generations,
    deletions: deps.generationDeletions,
    waits: deps.waits,
    tokens: deps.tokens,
  });
  const webhooks = webhookSecretRoutes(docs, user, deps.webhookSecrets);
  webhookDeliveryRoutes(generations, deps.webhookDeliveries);
  // Its own table, mounted before the generations' guard: the stream also takes a stream token.
  const events = RouteTable.open(docs, '/api/generations', 'Generations');
  generationEventRoutes(events, deps.auth({ scope: 'stream' }), deps.generations, deps.streams);
  const models = modelRoutes(docs, user, deps.models);
  const users = userRoutes(docs, user, deps.accountDeletions);
  const usage = usageRoutes(docs, user, deps.usage);
  const admin = adminRoutes(docs, deps.auth({ scope: 'admin' }), deps.admin.service, deps.usage);

  // First: the busiest routes, which no other table's paths overlap, then pass no other table's layers.
  app.use('/api/generations', events.router, generations.router);
  app.use(health.router);
  app.use(deps.metrics.routes());
  // The OpenAPI document (/openapi.json) and its interactive reference (/docs).
  app.use(apiDocsRoutes(buildOpenApiDocument(docs)));
  app.use(playgroundRoutes());
  app.use('/api/auth', auth.router);
  app.use('/api/models', models.router);
  app.use('/api/users', users.router);
  app.use('/api/usage', usage.router);
  app.use('/api/webhooks', webhooks.router);
  app.use('/api/admin', admin.router);
  app.use('/admin', deps.admin.area);

  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger));
  return app;
}
