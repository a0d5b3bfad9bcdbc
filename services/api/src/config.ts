import { isIP } from 'node:net';
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
const commaListOf = (list: string) =>
  list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
const commaList = z.string().transform(commaListOf);

/** The named ranges of proxy-addr, which Express's `trust proxy` uses. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/** An address, a subnet (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`) or a named range, as proxy-addr takes them. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (/^\d+$/.test(prefix)) return Number(prefix) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(prefix) === 4;
}

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
  /** How often each API instance reads the queue once for every open stream of a pending generation. */
  EVENTS_QUEUE_PLACE_MS: durationMs(2000),
  /** Event streams one user may have open at once, across all API instances (counted in Redis); more get 429. */
  EVENTS_STREAMS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(50),
  /** Event streams one API instance holds open at once, all users together; more get 429. */
  EVENTS_STREAMS_PER_INSTANCE: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** Failed sign-ins per account, and per IP, within LOGIN_FAILURE_WINDOW before sign-ins are refused (429). */
  LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(10_000).default(10),
  // LOGIN_FAILURES_PER_ACCOUNT counts per (account, address): guesses from one address lock out that address, not the owner.
  LOGIN_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(100),
  LOGIN_FAILURE_WINDOW: Duration.default(900_000),
  /** Accounts one address may create (register, or a sign-in that auto-registers) per REGISTER_WINDOW; more get 429. */
  REGISTER_PER_IP: z.coerce.number().int().min(1).max(100_000).default(20),
  REGISTER_WINDOW: Duration.default(3_600_000),
  /**
   * Password hashes (scrypt: 128 MiB and ~0.7 s of a libuv thread each) computed at once; keep it
   * below the libuv pool's size (UV_THREADPOOL_SIZE, 4 by default) so file and DNS work get threads.
   */
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Hashes that may wait for a turn; past that, sign-ins and registrations get 503 with Retry-After at once. */
  PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(10_000).default(16),
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
  /**
   * ADMIN_EMAIL naming an account that exists and is not an admin: promote it (revoking its tokens,
   * sessions and webhook secret) only when this is true; otherwise the start is refused, since that
   * account may have been registered by someone else to be promoted.
   */
  ADMIN_PROMOTE_EXISTING: z.stringbool().default(false),
  /** Mounts the queue dashboard read-only: its actions are refused by the server, not just hidden. */
  ADMIN_DASHBOARD_READONLY: z.stringbool().default(false),
  /** Lifetime of a dashboard session (its cookie holds an admin token this short-lived). */
  ADMIN_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(1800),
  /**
   * Express's `trust proxy`: which proxies' X-Forwarded-For (the client's address, which the per-IP
   * sign-in limit counts) and X-Forwarded-Proto (Secure cookies) to believe. A hop count (`1`: the
   * one proxy in front), or the proxies' addresses and subnets (`loopback, 10.0.0.0/8`). `true`
   * believes any X-Forwarded-For, which a client can write itself: refused in production.
   */
  TRUST_PROXY: z
    .string()
    .transform((value, ctx): boolean | number | string[] => {
      if (value === 'true' || value === 'false') return value === 'true';
      if (/^\d+$/.test(value)) return Number(value);
      const proxies = commaListOf(value);
      const unknown = proxies.filter((proxy) => !isProxyAddress(proxy));
      if (proxies.length === 0 || unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `must be false, a hop count, or addresses/subnets/loopback/linklocal/uniquelocal; not ${unknown.join(', ') || value}`,
        });
        return z.NEVER;
      }
      return proxies;
    })
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
  /**
   * How long a client may take to send a whole request, headers and body, before it is answered
   * 408 and its connection closed (Node's default is 5 minutes: a body sent a byte at a time held a
   * connection that long). It bounds the request only: answers, event streams included, run on.
   */
  HTTP_REQUEST_TIMEOUT_MS: durationMs(30_000),
  /** How long a client may take to send a request's headers; at most HTTP_REQUEST_TIMEOUT_MS. */
  HTTP_HEADERS_TIMEOUT_MS: durationMs(10_000),
  /**
   * Redeliveries (POST …/webhook-deliveries/redeliver) per user, and per message, within
   * WEBHOOK_REDELIVERY_WINDOW, across all API instances (counted in Redis): each is a signed POST
   * to a URL the user chose, and without a bound one request became one POST.
   */
  WEBHOOK_REDELIVERIES_PER_USER: z.coerce.number().int().min(1).max(100_000).default(60),
  WEBHOOK_REDELIVERIES_PER_MESSAGE: z.coerce.number().int().min(1).max(1000).default(5),
  WEBHOOK_REDELIVERY_WINDOW: Duration.default(3_600_000),
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
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['HTTP_HEADERS_TIMEOUT_MS'],
      message: 'must not be longer than HTTP_REQUEST_TIMEOUT_MS',
    });
  }
  // Any client could then pick the address the per-IP sign-in limit counts it under, a new one each time.
  if (env.NODE_ENV === 'production' && env.TRUST_PROXY === true) {
    ctx.addIssue({
      code: 'custom',
      path: ['TRUST_PROXY'],
      message:
        "true believes any client's X-Forwarded-For; set the hop count of the proxies in front (e.g. 1) or their addresses",
    });
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
