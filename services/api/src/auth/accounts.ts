import type { RedisClient } from '@imagegen/core';
import type { Registry } from 'prom-client';
import type { ApiConfig } from '../config';
import type { UserRepository } from '../users/user.repository';
import { AuthService } from './auth.service';
import { HashQueue } from './hash-queue';
import type { Passwords } from './password';
import { LoginThrottle } from './login-throttle';
import { RegisterThrottle } from './register-throttle';
import type { TokenService } from './token.service';

export interface Accounts {
  accounts: AuthService;
  /** The password hashing queue, whose saturation `/readyz` reports. */
  hashes: HashQueue;
}

/** Sign-in and registration, with their throttles (in Redis, shared by every instance) and hashing queue. */
export function buildAccounts(
  config: ApiConfig,
  redis: RedisClient,
  users: UserRepository,
  tokens: TokenService,
  passwords: Passwords,
  registry: Registry,
): Accounts {
  const hashes = new HashQueue(
    { concurrency: config.PASSWORD_HASH_CONCURRENCY, queue: config.PASSWORD_HASH_QUEUE },
    registry,
  );
  const accounts = new AuthService(users, tokens, {
    autoRegister: config.AUTH_AUTO_REGISTER,
    throttle: new LoginThrottle(redis, config.QUEUE_PREFIX, {
      perAccount: config.LOGIN_FAILURES_PER_ACCOUNT,
      perIp: config.LOGIN_FAILURES_PER_IP,
      windowSeconds: Math.ceil(config.LOGIN_FAILURE_WINDOW / 1000),
    }),
    registrations: new RegisterThrottle(redis, config.QUEUE_PREFIX, {
      perIp: config.REGISTER_PER_IP,
      windowSeconds: Math.ceil(config.REGISTER_WINDOW / 1000),
    }),
    hashes,
    passwords,
  });
  return { accounts, hashes };
}
