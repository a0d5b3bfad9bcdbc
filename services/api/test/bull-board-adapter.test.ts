import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { isolation, type Isolation } from '../../../test/support/isolation';
import {
  BOARD_API_PATH,
  bullBoard,
  queueActionRoutes,
  type QueueActionOverrides,
} from '../src/admin/bull-board.adapter';

/**
 * The paths of bull-board's private API that the dashboard takes over are named in one adapter.
 * These tests send each action's request twice: to the adapter, which must take it, and to the
 * real bull-board router, which must serve it. An upgrade of bull-board that moves or renames one
 * fails here, rather than letting the action slip past our checks to bull-board.
 */

const QUEUE = 'adapter-test';
const BASE = '/board';

/** A request of each action, as bull-board's UI sends it; typed so that a new action needs one. */
const REQUESTS: Record<keyof QueueActionOverrides, Array<[string, string]>> = {
  retryAll: [['PUT', '/retry/failed']],
  retryJob: [['PUT', '/1/retry']],
  cleanAll: [['PUT', '/clean/completed']],
  cleanJob: [['PUT', '/1/clean']],
  empty: [
    ['PUT', '/empty'],
    ['PUT', '/obliterate'],
  ],
  addJob: [['POST', '/add']],
  updateJobData: [['PATCH', '/1/update-data']],
};

let iso: Isolation;
let redis: Redis;
let queue: Queue;
let server: Server;
let baseUrl: string;
const taken: string[] = [];

beforeAll(async () => {
  iso = isolation();
  redis = new Redis(iso.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(QUEUE, { connection: redis, prefix: iso.queuePrefix });
  const take =
    (action: keyof QueueActionOverrides) =>
    (...args: unknown[]) => {
      taken.push(action);
      (args.find((arg) => typeof arg === 'object' && arg !== null && 'json' in arg) as express.Response).json({
        taken: action,
      });
    };
  const overrides = Object.fromEntries(
    Object.keys(REQUESTS).map((action) => [action, take(action as keyof QueueActionOverrides)]),
  ) as unknown as QueueActionOverrides;
  const app = express();
  app.use('/adapter', queueActionRoutes(QUEUE, overrides));
  app.use(BASE, bullBoard({ basePath: BASE, queues: [queue], readOnly: false, title: 'test', logoutUrl: '/' }));
  server = app.listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  redis?.disconnect();
  await iso?.cleanup();
});

const send = (method: string, path: string) =>
  fetch(baseUrl + path, { method, headers: { 'content-type': 'application/json' }, body: '{}' });

const cases = Object.entries(REQUESTS).flatMap(([action, requests]) =>
  requests.map(([method, path]) => [action, method, path] as const),
);

describe('bull-board adapter', () => {
  test.each(cases)('when bull-board is sent %s (%s %s), then the adapter takes it', async (action, method, path) => {
    const answer = await send(method, `/adapter${BOARD_API_PATH}/queues/${QUEUE}${path}`);
    expect(await answer.json()).toEqual({ taken: action });
  });

  test.each(cases)(
    'when the real bull-board router is sent %s (%s %s), then one of its routes answers it (not the 404 of no route)',
    async (_action, method, path) => {
      const answer = await send(method, `${BASE}${BOARD_API_PATH}/queues/${QUEUE}${path}`);
      const text = await answer.text();
      // Express's answer when no route matches: an HTML page "Cannot PUT /…".
      expect({ status: answer.status, text }).not.toEqual({ status: 404, text: expect.stringContaining('Cannot ') });
      expect(answer.headers.get('content-type')).toMatch(/json/);
    },
  );

  test('when the real bull-board router is sent a path it has no route for, then it answers the 404 of no route (the check above can fail)', async () => {
    const answer = await send('PUT', `${BASE}${BOARD_API_PATH}/queues/${QUEUE}/no-such-action`);
    expect(answer.status).toBe(404);
    expect(await answer.text()).toContain('Cannot PUT');
  });

  test("when a queue other than the adapter's is named, then the adapter lets bull-board have it", async () => {
    taken.length = 0;
    const answer = await send('PUT', `/adapter${BOARD_API_PATH}/queues/other/empty`);
    expect(answer.status).toBe(404);
    expect(taken).toEqual([]);
  });

  test('when the real bull-board router is asked for its queues under the API path, then it answers them as JSON', async () => {
    const answer = await fetch(`${baseUrl}${BASE}${BOARD_API_PATH}/queues`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ queues: [expect.objectContaining({ name: QUEUE })] });
  });
});
