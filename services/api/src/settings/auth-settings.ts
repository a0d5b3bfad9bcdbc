import { z } from 'zod';
import { Duration } from '@imagegen/shared';

/** scrypt's cost, as log2 of N, that OWASP's Password Storage Cheat Sheet asks for: N=2^17 (with r=8, p=1). */
export const OWASP_HASH_COST = 17;

/** Tokens, sign-in and registration limits, password hashing, and the admin account. */
export const AuthSettings = z.object({
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
  /** Failed sign-ins per account, and per IP, within LOGIN_FAILURE_WINDOW before sign-ins are refused (429). */
  LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(10_000).default(10),
  // LOGIN_FAILURES_PER_ACCOUNT counts per (account, address): guesses from one address lock out that address, not the owner.
  LOGIN_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(100),
  LOGIN_FAILURE_WINDOW: Duration.default(900_000),
  /** Accounts one address may create (register, or a sign-in that auto-registers) per REGISTER_WINDOW; more get 429. */
  REGISTER_PER_IP: z.coerce.number().int().min(1).max(100_000).default(20),
  REGISTER_WINDOW: Duration.default(3_600_000),
  /**
   * Password hashes (scrypt at the default cost: 128 MiB and ~0.6 s of a libuv thread each)
   * computed at once; keep it below the libuv pool's size (UV_THREADPOOL_SIZE, 4 by default) so
   * file and DNS work get threads.
   */
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Hashes that may wait for a turn; past that, sign-ins and registrations get 503 with Retry-After at once. */
  PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(10_000).default(16),
  /**
   * scrypt's cost of new hashes, as log2 of N: each step doubles a hash's time and memory. 17 is
   * OWASP's N=2^17 (128 MiB, ~0.6 s); 20 takes 1 GiB. Below 17 is refused in production: it is for
   * test suites and development machines, which make hundreds of accounts.
   */
  PASSWORD_HASH_COST: z.coerce.number().int().min(10).max(20).default(OWASP_HASH_COST),
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
});
