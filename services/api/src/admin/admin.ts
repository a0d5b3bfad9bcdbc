import type { Router } from 'express';
import type { Queue } from 'bullmq';
import type { RedisClient } from '@imagegen/core';
import type { AuthService } from '../auth/auth.service';
import type { TokenService } from '../auth/token.service';
import type { ApiConfig } from '../config';
import type { GenerationMapper } from '../generations/generation.mapper';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';
import type { AuthGuard, AuthOptions } from '../http/auth';
import type { AccountDeletionService } from '../users/account-deletion.service';
import type { UserRepository } from '../users/user.repository';
import { adminArea } from './admin-area';
import { AdminSessions } from './admin-sessions';
import { AdminService } from './admin.service';
import { SessionRevocations } from './session-revocations';

export interface AdminDeps {
  config: Pick<ApiConfig, 'ADMIN_SESSION_TTL_SECONDS' | 'ADMIN_DASHBOARD_READONLY' | 'QUEUE_PREFIX'>;
  auth: (options: AuthOptions) => AuthGuard;
  accounts: AuthService;
  tokens: TokenService;
  /** Signs the dashboard's CSRF tokens (the JWT secret). */
  secret: string;
  users: UserRepository;
  /** Deletes accounts (`DELETE /api/admin/users/:id`). */
  accountDeletions: AccountDeletionService;
  generations: GenerationRepository;
  retries: GenerationRetryService;
  mapper: GenerationMapper;
  generationQueue: Queue;
  otherQueues: Queue[];
  /** Where ended dashboard sessions are kept. */
  redis: RedisClient;
}

export interface Admin {
  /** `/admin`: the browser area (login form, dashboard), by session cookie or bearer token. */
  area: Router;
  /** What the JSON API under `/api/admin` (bearer tokens only) calls. */
  service: AdminService;
}

/** The admin side: its service, and the browser area with its sessions. */
export function buildAdmin(deps: AdminDeps): Admin {
  const { config } = deps;
  const sessions = new AdminSessions(
    deps.tokens,
    deps.secret,
    config.ADMIN_SESSION_TTL_SECONDS,
    new SessionRevocations(deps.redis, config.QUEUE_PREFIX),
  );
  const service = new AdminService(
    [deps.generationQueue, ...deps.otherQueues],
    deps.generations,
    deps.retries,
    deps.users,
    deps.mapper,
    deps.accountDeletions,
  );
  const area = adminArea(deps.accounts, sessions, {
    generationQueue: deps.generationQueue,
    otherQueues: deps.otherQueues,
    readOnly: config.ADMIN_DASHBOARD_READONLY,
    guard: deps.auth({ scope: 'dashboard', sessions }),
    sessions,
    generations: deps.generations,
    retries: deps.retries,
  });
  return { area, service };
}
