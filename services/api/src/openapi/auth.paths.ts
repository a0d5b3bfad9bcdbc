import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { AuthResult, LoginRequest, RegisterRequest } from '@imagegen/shared';
import { BODY_REFUSALS, json, refusals, success } from './responses';

const tags = ['Auth'];
/** Both routes hash a password, through a bounded queue (PASSWORD_HASH_CONCURRENCY, PASSWORD_HASH_QUEUE). */
const HASHING_503 =
  'A dependency (MongoDB, Redis) is unavailable, or too many passwords are being hashed at once: retry after Retry-After';

export function registerAuthPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'post',
    path: '/api/auth/register',
    tags,
    summary: 'Create an account',
    request: { body: { required: true, content: json(RegisterRequest) } },
    responses: {
      201: success('Account created: its bearer token', AuthResult),
      ...refusals({
        ...BODY_REFUSALS,
        409: 'An account with this email already exists',
        429: 'Too many accounts created from this address (REGISTER_PER_IP)',
        503: HASHING_503,
      }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/auth/login',
    tags,
    summary: 'Log in for a bearer token',
    description:
      'With `name` given and auto-registration on (AUTH_AUTO_REGISTER), an unknown email creates the account.',
    request: { body: { required: true, content: json(LoginRequest) } },
    responses: {
      200: success('Logged in (or the account created and logged in)', AuthResult),
      ...refusals({
        ...BODY_REFUSALS,
        401: 'Invalid email or password',
        429: 'Too many failed sign-ins for this email or address',
        503: HASHING_503,
      }),
    },
  });
}
