import cors from 'cors';
import express from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Logger } from '@imagegen/core';
import { authRoutes } from './auth/auth.routes';
import type { Authenticator } from './auth/authenticator';
import type { AuthService } from './auth/auth.service';
import type { TokenService } from './auth/token.service';
import { generationEventRoutes } from './generations/generation-events.routes';
import { generationRoutes } from './generations/generations.routes';
import type { GenerationService } from './generations/generation.service';
import type { GenerationStreams } from './generations/generation-streams';
import { healthRoutes } from './health/health.routes';
import { authenticate } from './http/authenticate';
import { errorHandler, notFoundRoute } from './http/error-handler';
import { REQUEST_ID_HEADER, requestLog } from './http/request-log';
import type { ApiMetrics } from './http/metrics';
import { requireJson } from './http/require-json';
import type { ModelCatalog } from './models/model-catalog';
import { modelRoutes } from './models/models.routes';
import { apiDocsRoutes } from './openapi/docs.routes';
import { playgroundRoutes } from './web/playground.routes';
import { webhookDeliveryRoutes } from './webhooks/webhook-deliveries.routes';
import type { WebhookDeliveryService } from './webhooks/webhook-delivery.service';
import { webhookSecretRoutes } from './webhooks/webhook-secret.routes';
import type { WebhookSecretService } from './webhooks/webhook-secret.service';

export interface AppDeps {
  /** `/admin` (login form, dashboard) and `/api/admin` (JSON API, behind its guard). */
  admin: { area: express.Router; api: express.Router };
  /** Express's `trust proxy`: which proxies' X-Forwarded-* to believe (client address, Secure cookies). */
  trustProxy: boolean | number | string[];
  db: Db;
  /** Every Redis connection the API works through (its own, and BullMQ's): all must answer for /readyz. */
  redis: Redis[];
  logger: Logger;
  /** Prometheus metrics, served at `/metrics`. */
  metrics: ApiMetrics;
  /** Whether the password hashing queue is full, which `/readyz` reports. */
  passwordHashing: { readonly saturated: boolean };
  auth: AuthService;
  tokens: TokenService;
  authenticator: Authenticator;
  generations: GenerationService;
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
    helmet({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, imgSrc: ["'self'", 'data:', 'blob:'] } },
    }),
  );
  if (deps.corsOrigins.length > 0) {
    const origin = deps.corsOrigins.includes('*') ? '*' : deps.corsOrigins;
    app.use('/api', cors({ origin, exposedHeaders: EXPOSED_HEADERS, maxAge: 600 }));
  }
  // Strict routing stays off, so `/api/generations` and the seed's `/api/generations/` are one route.
  app.use('/api', requireJson, express.json({ limit: deps.bodyLimitBytes, strict: true }));

  app.use(healthRoutes(deps.db, deps.redis, stopping, deps.passwordHashing));
  app.use(deps.metrics.routes());
  // The OpenAPI document (/openapi.json) and its interactive reference (/docs).
  app.use(apiDocsRoutes());
  app.use(playgroundRoutes());
  app.use('/api/auth', authRoutes(deps.auth));
  app.use(
    '/api/generations',
    // Before `authenticate`: the event stream also takes a stream token in its query.
    generationEventRoutes(deps.generations, deps.streams, deps.authenticator),
    authenticate(deps.authenticator),
    generationRoutes(deps.generations, deps.streams, deps.tokens),
    webhookDeliveryRoutes(deps.webhookDeliveries),
  );
  app.use('/api/models', authenticate(deps.authenticator), modelRoutes(deps.models));
  app.use('/api/webhooks', authenticate(deps.authenticator), webhookSecretRoutes(deps.webhookSecrets));
  app.use('/api/admin', deps.admin.api);
  app.use('/admin', deps.admin.area);

  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger));
  return app;
}
