import { z } from 'zod';
import {
  CancelAfter,
  CommonEnv,
  DEFAULT_HF_MODEL,
  Duration,
  ModelId,
  OPENAI_MODELS,
  ProviderSettings,
  durationMs,
  parseEnv,
  resolveProviderSettings,
} from '@imagegen/shared';

/** `a, b,c` → `['a', 'b', 'c']`. */
const commaList = z.string().transform((list) =>
  list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

export const ApiEnv = CommonEnv.extend({
  // The API reads them to check a create's model against the providers that serve it, and to list models.
  ...ProviderSettings.shape,
  /** The model of requests that name none; the worker follows what each record says. */
  HF_MODEL: ModelId.default(DEFAULT_HF_MODEL),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8000),
  HOST: z.string().default('0.0.0.0'),
  JWT_SECRET: z.string().optional(),
  JWT_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .default(3600),
  AUTH_AUTO_REGISTER: z.stringbool().default(true),
  /**
   * How long an account found for a token is taken to exist without reading it again; a deleted
   * account's tokens stop working within this. 0: read it on every request.
   */
  AUTH_ACCOUNT_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  HF_ALLOWED_MODELS: commaList.pipe(z.array(ModelId)).optional(),
  /** How often an idle event stream gets a comment line, so proxies keep it open. */
  EVENTS_HEARTBEAT_MS: durationMs(15_000),
  /** How often an event stream of a pending generation checks its place in the queue. */
  EVENTS_QUEUE_PLACE_MS: durationMs(2000),
  /** Failed sign-ins per account, and per IP, within LOGIN_FAILURE_WINDOW before sign-ins are refused (429). */
  LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(10_000).default(10),
  LOGIN_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(100),
  LOGIN_FAILURE_WINDOW: Duration.default(900_000),
  /** Creates per user per CREATE_RATE_WINDOW, across all API instances (counted in Redis). */
  CREATE_RATE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(60),
  CREATE_RATE_WINDOW: Duration.default(60_000),
  /** Generations a user may have pending or processing at once. */
  MAX_IN_FLIGHT_PER_USER: z.coerce.number().int().min(1).max(10_000).default(20),
  /** `cancel_after` of requests that give none (e.g. `10m`, at most `1h`); unset: no deadline. */
  DEFAULT_CANCEL_AFTER: CancelAfter.optional(),
  /** With ADMIN_PASSWORD: this account is made (or updated to) an admin with that password at start. */
  ADMIN_EMAIL: z
    .email()
    .transform((email) => email.toLowerCase())
    .optional(),
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(256).optional(),
  /** Mounts the queue dashboard read-only: its actions are refused by the server, not just hidden. */
  ADMIN_DASHBOARD_READONLY: z.stringbool().default(false),
  /** Lifetime of a dashboard session (its cookie holds an admin token this short-lived). */
  ADMIN_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(1800),
  /**
   * Express's `trust proxy`: `true`, a hop count, or addresses/subnets (`loopback, 10.0.0.0/8`).
   * Behind a TLS-terminating proxy, it makes the dashboard's cookie Secure.
   */
  TRUST_PROXY: z
    .string()
    .transform((value) =>
      value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value,
    )
    .default(false),
  /** Origins (`https://app.example.com,https://admin.example.com`, or `*`) whose pages may call /api; unset: none. */
  CORS_ORIGINS: commaList
    .pipe(z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ }).transform((url) => new URL(url).origin)])))
    .default([]),
  /**
   * On SIGTERM, how long connections are kept open for requests already on their way (and for a
   * load balancer to stop sending new ones) before idle ones are closed; within SHUTDOWN_TIMEOUT_MS.
   */
  SHUTDOWN_DRAIN_MS: durationMs(1000),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(64 * 1024),
}).superRefine((env, ctx) => {
  if (!env.ADMIN_EMAIL !== !env.ADMIN_PASSWORD) {
    const missing = env.ADMIN_EMAIL ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'ADMIN_EMAIL and ADMIN_PASSWORD go together' });
  }
  if (env.SHUTDOWN_DRAIN_MS >= env.SHUTDOWN_TIMEOUT_MS) {
    ctx.addIssue({ code: 'custom', path: ['SHUTDOWN_DRAIN_MS'], message: 'must be shorter than SHUTDOWN_TIMEOUT_MS' });
  }
  if (env.NODE_ENV === 'production' && Buffer.byteLength(env.JWT_SECRET ?? '') < 32) {
    ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'required in production, at least 32 bytes' });
  }
  if (env.HF_PROVIDER.kind === 'openai' && !env.OPENAI_API_KEY) {
    ctx.addIssue({ code: 'custom', path: ['OPENAI_API_KEY'], message: 'required when HF_PROVIDER=openai' });
  }
  // ModelId takes OpenAI's ids too (a request may name one with provider "openai"); as a Hugging Face
  // model, which these settings name, every request would be refused.
  const openai = (model: string) => (OPENAI_MODELS as readonly string[]).includes(model);
  if (openai(env.HF_MODEL)) {
    ctx.addIssue({ code: 'custom', path: ['HF_MODEL'], message: 'is an OpenAI model: set OPENAI_MODEL instead' });
  }
  if (env.HF_ALLOWED_MODELS?.some(openai)) {
    ctx.addIssue({
      code: 'custom',
      path: ['HF_ALLOWED_MODELS'],
      message: 'lists an OpenAI model: they are offered whenever OPENAI_API_KEY is set',
    });
  }
});

const ApiConfigSchema = ApiEnv.transform((env) => resolveProviderSettings(env));

export type ApiConfig = z.infer<typeof ApiConfigSchema>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseEnv(ApiConfigSchema, env);
}
