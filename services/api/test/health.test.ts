import { freePort } from '@imagegen/devstack';
import { COLLECTIONS } from '@imagegen/shared';
import { ApiClient } from '../../../test/support/api-client';
import { startHarness, startTestApi, type Harness } from './api-harness';

describe('health endpoints with MongoDB and Redis up', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when /healthz is asked, then it answers 200 ok', async () => {
    const reply = await h.anonymous.request('GET', '/healthz');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ success: true, message: 'ok', data: { status: 'ok' } });
  });

  test('when /readyz is asked and both dependencies answer, then it is 200 with both ok', async () => {
    const reply = await h.anonymous.request('GET', '/readyz');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ success: true, data: { mongodb: 'ok', redis: 'ok' } });
  });
});

describe('an API whose Redis is unreachable', () => {
  let h: Harness;
  let client: ApiClient;
  let stopBroken: () => Promise<void>;

  beforeAll(async () => {
    // The harness gives the database and a working API for logging in; the API under test shares
    // that database but points at a port where nothing listens.
    h = await startHarness();
    const closedPort = await freePort();
    const broken = await startTestApi(h.iso, { REDIS_URL: `redis://127.0.0.1:${closedPort}` });
    stopBroken = () => broken.api.stop();
    const user = await h.user('redis-down@example.com');
    client = new ApiClient(broken.baseUrl, user.token);
  });

  afterAll(async () => {
    await stopBroken?.();
    await h?.stop();
  });

  test('when /readyz is asked, then it is 503 with redis unreachable and mongodb ok', async () => {
    const reply = await client.request('GET', '/readyz');
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ success: false, data: { mongodb: 'ok', redis: 'unreachable' } });
  });

  test('when a generation is posted, then it answers 503 and leaves no record behind', async () => {
    const before = await h.generationCount();
    const reply = await client.request('POST', '/api/generations', { prompt: 'a lighthouse in a storm' });
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ success: false });
    expect(reply.headers.get('retry-after')).toBe('5');
    expect(await h.generationCount()).toBe(before);
    expect(await h.db.collection(COLLECTIONS.generations).countDocuments({ prompt: 'a lighthouse in a storm' })).toBe(
      0,
    );
    expect(await h.jobCount()).toBe(0);
  });
});
