import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express from 'express';
import { z } from 'zod';
import type { Authenticator } from '../src/auth/authenticator';
import type { TokenService } from '../src/auth/token.service';
import { UnauthorizedError } from '../src/errors';
import { createAuth } from '../src/http/auth';
import type { UserRepository } from '../src/users/user.repository';
import { errorHandler } from '../src/http/error-handler';
import { RouteTable } from '../src/http/route';
import { routeLabelOf } from '../src/http/route-label';
import pino from 'pino';

/** `RouteTable`: one declaration, both the Express handler (input parsed and typed) and the OpenAPI operation. */

const Params = z.object({ id: z.string().regex(/^\d+$/).transform(Number) });
const Body = z.object({ name: z.string().min(1) });

/** The `user` guard, over an authenticator that knows one token. */
const authenticator = {
  verify: async (token: string) => {
    if (token !== 'let-me-in') throw new UnauthorizedError('Invalid token');
    return { sub: 'someone', role: 'user' };
  },
} as unknown as Authenticator;
const guard = createAuth({ authenticator, tokens: {} as TokenService, users: {} as UserRepository })({ scope: 'user' });

let server: Server;
let baseUrl: string;
const docs = new OpenAPIRegistry();
const labels: Array<string | undefined> = [];

beforeAll(async () => {
  const open = RouteTable.open(docs, '/things', 'Things');
  open.post('/:id', {
    summary: 'Rename a thing',
    params: Params,
    body: Body,
    responses: { 200: { description: 'Renamed' } },
    handler: (request) => {
      // Typed from the schemas: `id` is the number the transform made.
      const id: number = request.params.id;
      request.res.json({ id, name: request.body.name, auth: request.auth ?? null });
    },
  });
  const guarded = RouteTable.guarded(docs, '/private', 'Things', guard);
  guarded.get('/', {
    summary: 'A guarded thing',
    responses: { 200: { description: 'Seen' } },
    handler: ({ auth, res }) => {
      res.json({ seen: auth.sub });
    },
  });
  const app = express();
  app.use((_req, res, next) => {
    res.once('finish', () => labels.push(routeLabelOf(res)));
    next();
  });
  app.use(express.json());
  app.use('/things', open.router);
  app.use('/private', guarded.router);
  app.use(errorHandler(pino({ level: 'silent' })));
  server = app.listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

const post = (path: string, body: unknown) =>
  fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('route tables', () => {
  test('when a request is valid, then the handler gets each part as its schema parsed it, and the route pattern labels the answer', async () => {
    labels.length = 0;
    const answer = await post('/things/42', { name: 'lamp' });
    expect(await answer.json()).toEqual({ id: 42, name: 'lamp', auth: null });
    expect(labels).toEqual(['/things/:id']);
  });

  test('when a part is invalid, then the answer is 400 naming the field (params prefixed), and the handler is not run', async () => {
    const badId = await post('/things/x', { name: 'lamp' });
    expect(badId.status).toBe(400);
    expect(await badId.json()).toMatchObject({ errors: [expect.objectContaining({ field: 'params.id' })] });
    const badBody = await post('/things/1', { name: '' });
    expect(badBody.status).toBe(400);
    expect(await badBody.json()).toMatchObject({ errors: [expect.objectContaining({ field: 'name' })] });
  });

  test('when a table has a guard, then every request into it passes the guard first, matched or not', async () => {
    expect((await fetch(`${baseUrl}/private`)).status).toBe(401);
    expect((await fetch(`${baseUrl}/private/no-such-route`)).status).toBe(401);
    const seen = await fetch(`${baseUrl}/private`, { headers: { authorization: 'Bearer let-me-in' } });
    expect(await seen.json()).toEqual({ seen: 'someone' });
  });

  test('when routes are declared, then each is in the registry as an OpenAPI operation with its full path, tag, input and security', () => {
    const routes = docs.definitions.flatMap((definition) => (definition.type === 'route' ? [definition.route] : []));
    expect(routes).toEqual([
      expect.objectContaining({
        method: 'post',
        path: '/things/{id}',
        tags: ['Things'],
        summary: 'Rename a thing',
        request: { params: Params, body: { required: true, content: { 'application/json': { schema: Body } } } },
      }),
      expect.objectContaining({ method: 'get', path: '/private', tags: ['Things'], security: [{ bearerAuth: [] }] }),
    ]);
    expect(routes[0]).not.toHaveProperty('security');
  });
});
