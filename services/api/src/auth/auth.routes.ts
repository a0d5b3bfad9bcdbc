import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { AuthResult, LoginRequest, RegisterRequest } from '@imagegen/shared';
import { respond } from '../http/respond';
import { RouteTable } from '../http/route';
import { BODY_REFUSALS, refusals, success } from '../openapi/responses';
import type { AuthService } from './auth.service';

/** Both routes hash a password, through a bounded queue (PASSWORD_HASH_CONCURRENCY, PASSWORD_HASH_QUEUE). */
const HASHING_503 =
  'A dependency (MongoDB, Redis) is unavailable, or too many passwords are being hashed at once: retry after Retry-After';

/** `/api/auth`: accounts and their bearer tokens. */
export function authRoutes(docs: OpenAPIRegistry, auth: AuthService): RouteTable {
  const routes = RouteTable.open(docs, '/api/auth', 'Auth');

  routes.post('/register', {
    summary: 'Create an account',
    body: RegisterRequest,
    responses: {
      201: success('Account created: its bearer token', AuthResult),
      ...refusals({
        ...BODY_REFUSALS,
        409: 'An account with this email already exists',
        429: 'Too many accounts created from this address (REGISTER_PER_IP)',
        503: HASHING_503,
      }),
    },
    handler: async (request) => {
      respond(request.res, 201, 'Account created', await auth.register(request.body, request.req.ip));
    },
  });

  routes.post('/login', {
    summary: 'Log in for a bearer token',
    description:
      'With `name` given and auto-registration on (AUTH_AUTO_REGISTER), an unknown email creates the account.',
    body: LoginRequest,
    responses: {
      200: success('Logged in (or the account created and logged in)', AuthResult),
      ...refusals({
        ...BODY_REFUSALS,
        401: 'Invalid email or password',
        429: 'Too many failed sign-ins for this email or address',
        503: HASHING_503,
      }),
    },
    handler: async (request) => {
      const { result, created } = await auth.login(request.body, request.req.ip);
      respond(request.res, 200, created ? 'Account created and logged in' : 'Logged in', result);
    },
  });

  return routes;
}
