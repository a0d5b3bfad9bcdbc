import { isIP } from 'node:net';
import { z } from 'zod';
import { durationMs } from '@imagegen/shared';
import { commaList, commaListOf } from './comma-list';

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

/** How the API listens, whom it believes in front of it, and how long it gives a request. */
export const HttpSettings = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(8000),
  HOST: z.string().default('0.0.0.0'),
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
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(64 * 1024),
});
