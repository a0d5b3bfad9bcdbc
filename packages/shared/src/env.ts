import { z } from 'zod';
import { RedisSettings } from './redis-settings';
import { MongoReadPreference, MongoWriteConcern, checkMongoUri } from './mongo-settings';

/** Thrown when the environment does not satisfy a service's config schema; names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once, treating empty values as unset (compose files often pass `FOO=`). */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
}

/** A duration in ms; zero is refused, as every one of them would then spin or time out at once. */
export const durationMs = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

export const NodeEnv = z.enum(['development', 'test', 'production']).default('development');

/** Settings both services read. */
export const CommonEnv = z.object({
  NODE_ENV: NodeEnv,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `json`: one JSON object per line, for log collectors; `pretty`: coloured lines for a terminal. */
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  // Not z.url(): replica-set URIs list several host:port pairs, which WHATWG URLs refuse.
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\/\S+$/, 'must be a mongodb:// or mongodb+srv:// connection string')
    .superRefine(checkMongoUri)
    .default('mongodb://127.0.0.1:27017/imagegen'),
  /** `majority` or a number of members; unset: the URI's `w=`, else by the URI's kind (`mongoWriteConcern`). */
  MONGODB_WRITE_CONCERN: MongoWriteConcern.optional(),
  /** Where the list reads go (a user's generations, the admin listing); every other read stays on the primary. */
  MONGODB_READ_PREFERENCE: MongoReadPreference.default('primary'),
  ...RedisSettings.shape,
  /**
   * Put before every Redis key of ours and of BullMQ's. On a Redis Cluster it must carry a hash
   * tag, such as `{imagegen}` (see `checkRedisSettings`).
   */
  QUEUE_PREFIX: z
    .string()
    .regex(
      /^[A-Za-z0-9_.:-]*(\{[A-Za-z0-9_.:-]+\})?[A-Za-z0-9_.:-]*$/,
      'letters, digits and _ . : - only, with at most one {hash tag}',
    )
    .min(1)
    .max(64)
    .default('imagegen'),
  SHUTDOWN_TIMEOUT_MS: durationMs(25_000),
  /** Where clients reach the API: records carry their URLs under it (`urls`, webhook image URLs). */
  PUBLIC_BASE_URL: z
    .url({ protocol: /^https?$/ })
    .transform((url) => url.replace(/\/+$/, ''))
    .default('http://localhost:8000'),
  /**
   * Lets webhook URLs name private, loopback and link-local addresses. Off by default: on a server,
   * such a URL would let any user make us call into our own network (SSRF).
   */
  WEBHOOK_ALLOW_PRIVATE: z.stringbool().default(false),
});
