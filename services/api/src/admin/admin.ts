import { Router } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuthService } from '../auth/auth.service';
import type { TokenService } from '../auth/token.service';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';
import type { GenerationViews } from '../generations/generation.mapper';
import type { UserRepository } from '../users/user.repository';
import { adminArea } from './admin-area';
import { AdminSessions } from './admin-sessions';
import { adminRoutes } from './admin.routes';
import { AdminService } from './admin.service';
import { requireAdmin } from './require-admin';
import { SessionRevocations } from './session-revocations';

export interface AdminDeps {
  auth: AuthService;
  tokens: TokenService;
  /** Signs the dashboard's CSRF tokens (the JWT secret). */
  secret: string;
  sessionTtlSeconds: number;
  readOnly: boolean;
  users: UserRepository;
  generations: GenerationRepository;
  retries: GenerationRetryService;
  views: GenerationViews;
  generationQueue: Queue;
  otherQueues: Queue[];
  /** Where ended dashboard sessions are kept, under `prefix`. */
  redis: Redis;
  prefix: string;
}

/** The admin side: the JSON API for scripts (bearer only) and the browser area (session cookie or bearer). */
export function buildAdmin(deps: AdminDeps): { area: Router; api: Router } {
  const sessions = new AdminSessions(
    deps.tokens,
    deps.secret,
    deps.sessionTtlSeconds,
    new SessionRevocations(deps.redis, deps.prefix),
  );
  const service = new AdminService(
    [deps.generationQueue, ...deps.otherQueues],
    deps.generations,
    deps.retries,
    deps.users,
    deps.views,
  );
  const api = Router();
  api.use(requireAdmin(deps.tokens, deps.users), adminRoutes(service));
  const area = adminArea(deps.auth, sessions, {
    generationQueue: deps.generationQueue,
    otherQueues: deps.otherQueues,
    readOnly: deps.readOnly,
    guard: requireAdmin(deps.tokens, deps.users, sessions),
    sessions,
    generations: deps.generations,
    retries: deps.retries,
  });
  return { area, api };
}
