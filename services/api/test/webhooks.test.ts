import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import {
  JOBS,
  QUEUES,
  WebhookAttemptView,
  WebhookDeliveries,
  WebhookMessageView,
  WebhookSecretView,
  webhookMessageId,
  type ApiFailure,
  type ApiSuccess,
  type Generation,
} from '@imagegen/shared';
import {
  COLLECTIONS,
  type GenerationDocument,
  type UserDocument,
  type WebhookAttemptDocument,
  type WebhookMessageDocument,
} from '@imagegen/core';
import type { ApiClient, Reply } from '../../../test/support/api-client';
import { startHarness, type Harness } from './api-harness';

const HOUR_MS = 3600 * 1000;

/** A logged-in client and the id of its user. */
async function signIn(h: Harness, email: string): Promise<{ client: ApiClient; userId: string }> {
  const client = h.client();
  const reply = await client.request<ApiSuccess<{ token: string; user: { id: string } }>>('POST', '/api/auth/login', {
    email,
    password: 'password123',
    name: 'Webhook User',
  });
  if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  client.token = reply.body.data.token;
  return { client, userId: reply.body.data.user.id };
}

const fieldsOf = (reply: Reply<ApiFailure>) => reply.body.errors?.map((e) => e.field) ?? [];

/** A secret just made: no previous one signs beside it. */
const FRESH_SECRET = {
  current: expect.stringMatching(/^whsec_/),
  created_at: expect.any(Date),
  previous: null,
  previous_expires_at: null,
};

describe('webhook_url with WEBHOOK_ALLOW_PRIVATE off (the default)', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness();
    client = await h.user('guarded@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Posts the body and checks it is refused with 400 naming `field`, writing neither a record nor a job. */
  async function refused(body: Record<string, unknown>, field: string | RegExp): Promise<string> {
    const [records, jobs] = [await h.generationCount(), await h.jobCount()];
    const reply = await client.request<ApiFailure>('POST', '/api/generations/', body);
    expect({ body, status: reply.status }).toEqual({ body, status: 400 });
    expect(reply.body).toMatchObject({ success: false, message: expect.any(String) });
    expect(fieldsOf(reply)).toEqual([typeof field === 'string' ? field : expect.stringMatching(field)]);
    expect(await h.generationCount()).toBe(records);
    expect(await h.jobCount()).toBe(jobs);
    return reply.body.errors![0]!.message;
  }

  // Only "not a public address", whatever made it so: which address a name resolved to is ours to know.
  test.each([
    'http://127.0.0.1/hook',
    'http://[::1]/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://10.0.0.1/',
    'http://[::ffff:127.0.0.1]/',
    'http://localhost:9/hook',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0.0.0.0/',
    'http://[fd00::1]/',
    'http://100.64.0.1/',
    'http://[64:ff9b::a00:1]/',
  ])(
    'when the webhook_url is %s, then it answers 400 naming webhook_url as not a public address, and writes nothing',
    async (url) => {
      expect(await refused({ prompt: 'a cat', webhook_url: url }, 'webhook_url')).toBe('not a public address');
    },
  );

  test('when the webhook_url is not http(s), then it answers 400 naming webhook_url', async () => {
    const message = await refused({ prompt: 'a cat', webhook_url: 'ftp://example.com/x' }, 'webhook_url');
    expect(message).toMatch(/http:\/\/ or https:\/\//);
  });

  // At d8ce5ee this answered 500: the credentials refinement of WebhookUrl ran `new URL()` on a
  // string that had already failed the URL check, and its TypeError reached the error handler.
  test('when the webhook_url is not a URL at all, then it answers 400 naming webhook_url, not 500', async () => {
    for (const url of ['/relative/hook', 'not a url', 'example.com/hook', '']) {
      expect(await refused({ prompt: 'a cat', webhook_url: url }, 'webhook_url')).toMatch(/http:\/\/ or https:\/\//);
    }
  });

  test('when the webhook_url carries credentials, then it answers 400 naming webhook_url', async () => {
    for (const url of ['http://user@example.com/', 'http://example.com@127.0.0.1/', 'https://u:p@example.com/']) {
      expect(await refused({ prompt: 'a cat', webhook_url: url }, 'webhook_url')).toMatch(/user name or password/);
    }
  });

  test('when the webhook_url is longer than 2048 characters, then it answers 400 naming webhook_url', async () => {
    const url = `http://example.com/${'a'.repeat(2048)}`;
    expect(await refused({ prompt: 'a cat', webhook_url: url }, 'webhook_url')).toMatch(/2048/);
  });

  test('when webhook_events is given without webhook_url, then it answers 400 naming webhook_url', async () => {
    const message = await refused({ prompt: 'a cat', webhook_events: ['completed'] }, 'webhook_url');
    expect(message).toMatch(/required when webhook_events/);
  });

  test('when webhook_events names an unknown event, is empty or repeats one, then it answers 400 naming webhook_events', async () => {
    // A public literal address, so that only the events are at fault.
    const webhook_url = 'https://93.184.215.14/hook';
    await refused({ prompt: 'a cat', webhook_url, webhook_events: ['finished'] }, /^webhook_events(\.0)?$/);
    expect(await refused({ prompt: 'a cat', webhook_url, webhook_events: [] }, 'webhook_events')).toMatch(
      /at least one/,
    );
    expect(
      await refused({ prompt: 'a cat', webhook_url, webhook_events: ['start', 'start'] }, 'webhook_events'),
    ).toMatch(/repeat/);
    await refused({ prompt: 'a cat', webhook_url, webhook_events: 'completed' }, 'webhook_events');
  });

  test('when the webhook host does not resolve, then it answers 400 naming webhook_url', async () => {
    const message = await refused({ prompt: 'a cat', webhook_url: 'http://no-such-host.invalid/hook' }, 'webhook_url');
    // The same as for an internal name: whether a name resolves is not ours to tell.
    expect(message).toBe('not a public address');
  });

  test('when a public literal address is given, then it is accepted (the refusals are about the address)', async () => {
    const reply = await client.request<ApiSuccess<Generation>>('POST', '/api/generations/', {
      prompt: 'a cat',
      webhook_url: 'https://93.184.215.14/hook',
    });
    expect(reply.status).toBe(202);
    expect(reply.body.data.webhook_url).toBe('https://93.184.215.14/hook');
  });
});

describe('webhooks with WEBHOOK_ALLOW_PRIVATE on', () => {
  let h: Harness;
  let redis: Redis;
  let webhookQueue: Queue;

  beforeAll(async () => {
    h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: 'true' });
    redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    webhookQueue = new Queue(QUEUES.webhooks, { connection: redis, prefix: h.iso.queuePrefix });
  });

  afterAll(async () => {
    await webhookQueue?.close();
    redis?.disconnect();
    await h?.stop();
  });

  const users = () => h.db.collection<UserDocument>(COLLECTIONS.users);
  const generations = () => h.db.collection<GenerationDocument>(COLLECTIONS.generations);
  const messages = () => h.db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
  const attempts = () => h.db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts);
  const webhookJobCount = async () => Object.values(await webhookQueue.getJobCounts()).reduce((sum, n) => sum + n, 0);

  describe('POST /api/generations with a webhook', () => {
    let client: ApiClient;
    let userId: string;

    beforeAll(async () => {
      ({ client, userId } = await signIn(h, 'hooked@example.com'));
    });

    test('when a loopback webhook_url is posted, then it answers 202 and the record echoes it with webhook_events ["completed"]', async () => {
      const reply = await client.request<ApiSuccess<Generation>>('POST', '/api/generations/', {
        prompt: 'A cat with a webhook',
        webhook_url: 'http://127.0.0.1:9/hook',
      });
      expect(reply.status).toBe(202);
      expect(reply.body.data).toMatchObject({ webhook_url: 'http://127.0.0.1:9/hook', webhook_events: ['completed'] });
      const doc = await generations().findOne({ _id: new ObjectId(reply.body.data.id) });
      expect(doc?.webhook).toEqual({ url: 'http://127.0.0.1:9/hook', events: ['completed'] });
      expect(await h.queue.getJob(reply.body.data.id)).toBeDefined();

      // Reading it back, alone or in the list, shows the same.
      const read = (await client.get(reply.body.data.id)).body as ApiSuccess<Generation>;
      expect(read.data).toMatchObject({ webhook_url: 'http://127.0.0.1:9/hook', webhook_events: ['completed'] });
      const listed = (await client.list()).items.find((item) => item.id === reply.body.data.id);
      expect(listed).toMatchObject({ webhook_url: 'http://127.0.0.1:9/hook', webhook_events: ['completed'] });
    });

    test('when localhost and [::1] are posted, then they are accepted too', async () => {
      expect((await client.create({ prompt: 'a cat', webhook_url: 'http://localhost:9/hook' })).webhook_url).toBe(
        'http://localhost:9/hook',
      );
      expect((await client.create({ prompt: 'a cat', webhook_url: 'http://[::1]:9/hook' })).webhook_url).toBe(
        'http://[::1]:9/hook',
      );
    });

    test('when webhook_events ["start","completed"] is posted, then the record echoes them', async () => {
      const generation = await client.create({
        prompt: 'A cat, started and completed',
        webhook_url: 'http://127.0.0.1:9/hook',
        webhook_events: ['start', 'completed'],
      });
      expect(generation.webhook_events).toEqual(['start', 'completed']);
      const doc = await generations().findOne({ _id: new ObjectId(generation.id) });
      expect(doc?.webhook?.events).toEqual(['start', 'completed']);
    });

    test('when a generation has no webhook, then its record has webhook_url null and webhook_events []', async () => {
      const generation = await client.create({ prompt: 'A cat without a webhook' });
      expect(generation).toMatchObject({ webhook_url: null, webhook_events: [] });
      const doc = await generations().findOne({ _id: new ObjectId(generation.id) });
      expect(doc?.webhook).toBeNull();
    });

    test('when the webhook_url is not in normal form, then the normalized URL is stored and echoed', async () => {
      const generation = await client.create({ prompt: 'a cat', webhook_url: 'HTTP://127.0.0.1:80/a/../hook' });
      expect(generation.webhook_url).toBe('http://127.0.0.1/hook');
      const doc = await generations().findOne({ _id: new ObjectId(generation.id) });
      expect(doc?.webhook?.url).toBe('http://127.0.0.1/hook');
    });

    test('when the webhook_url is exactly 2048 characters, then it is accepted, and one more is refused', async () => {
      const base = 'http://127.0.0.1/';
      const url = base + 'a'.repeat(2048 - base.length);
      expect(url).toHaveLength(2048);
      expect((await client.create({ prompt: 'a cat', webhook_url: url })).webhook_url).toBe(url);
      const reply = await client.request<ApiFailure>('POST', '/api/generations/', {
        prompt: 'a cat',
        webhook_url: `${url}a`,
      });
      expect(reply.status).toBe(400);
      expect(fieldsOf(reply)).toEqual(['webhook_url']);
    });

    test('when the webhook_url grows past 2048 characters once normalized, then it is refused', async () => {
      const url = `http://127.0.0.1/${'é'.repeat(1000)}`;
      expect(url.length).toBeLessThan(2048);
      expect(new URL(url).href.length).toBeGreaterThan(2048);
      const before = await h.generationCount();
      const reply = await client.request<ApiFailure>('POST', '/api/generations/', {
        prompt: 'a cat',
        webhook_url: url,
      });
      expect(reply.status).toBe(400);
      expect(fieldsOf(reply)).toEqual(['webhook_url']);
      expect(reply.body.errors?.[0]?.message).toMatch(/2048/);
      expect(await h.generationCount()).toBe(before);
    });

    test('when private addresses are allowed, then credentials, other schemes and unresolvable hosts are still refused', async () => {
      const before = await h.generationCount();
      for (const url of ['http://user@127.0.0.1/', 'ftp://127.0.0.1/x', 'http://no-such-host.invalid/']) {
        const reply = await client.request<ApiFailure>('POST', '/api/generations/', {
          prompt: 'a cat',
          webhook_url: url,
        });
        expect({ url, status: reply.status, fields: fieldsOf(reply) }).toEqual({
          url,
          status: 400,
          fields: ['webhook_url'],
        });
      }
      expect(await h.generationCount()).toBe(before);
    });

    test('when a new account signs up, then it has a webhook_secret at once', async () => {
      const { userId: freshId } = await signIn(h, 'new-account@example.com');
      const doc = await users().findOne({ _id: new ObjectId(freshId) });
      expect(doc?.webhook_secret).toEqual(FRESH_SECRET);
    });

    test('when an account from before webhooks (no secret) creates a generation with a webhook, then it gets a secret, the one GET /secret shows', async () => {
      const { client: fresh, userId: freshId } = await signIn(h, 'first-hook@example.com');
      await users().updateOne({ _id: new ObjectId(freshId) }, { $unset: { webhook_secret: '' } });
      await fresh.create({ prompt: 'a cat', webhook_url: 'http://127.0.0.1:9/hook' });
      const doc = await users().findOne({ _id: new ObjectId(freshId) });
      expect(doc?.webhook_secret).toEqual(FRESH_SECRET);
      expect((await fresh.webhookSecret()).secret).toBe(doc?.webhook_secret?.current);
    });

    test('when the creator already had a secret, then creating a webhook generation keeps it', async () => {
      const secret = await client.webhookSecret();
      await client.create({ prompt: 'a cat', webhook_url: 'http://127.0.0.1:9/hook' });
      expect((await users().findOne({ _id: new ObjectId(userId) }))?.webhook_secret?.current).toBe(secret.secret);
      expect((await client.webhookSecret()).secret).toBe(secret.secret);
    });
  });

  describe('GET /api/webhooks/secret', () => {
    test('when no token is sent, then it answers 401', async () => {
      const reply = await h.anonymous.request('GET', '/api/webhooks/secret');
      expect(reply.status).toBe(401);
      expect(reply.body).toMatchObject({ success: false });
    });

    test('when asked the first time, then it answers a whsec_ secret of 32 random bytes, no-store, and no previous secret', async () => {
      const { client, userId } = await signIn(h, 'secret-first@example.com');
      const reply = await client.request<ApiSuccess<WebhookSecretView>>('GET', '/api/webhooks/secret');
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      const view = WebhookSecretView.parse(reply.body.data);
      expect(Object.keys(reply.body.data).sort()).toEqual(['created_at', 'previous_secret_expires_at', 'secret']);
      const base64 = view.secret.slice('whsec_'.length);
      expect(base64).toMatch(/^[A-Za-z0-9+/]+=*$/);
      const bytes = Buffer.from(base64, 'base64');
      expect(bytes).toHaveLength(32);
      expect(bytes.toString('base64')).toBe(base64);
      expect(view.previous_secret_expires_at).toBeNull();
      expect(Number.isNaN(Date.parse(view.created_at))).toBe(false);

      const doc = await users().findOne({ _id: new ObjectId(userId) });
      expect(doc?.webhook_secret?.current).toBe(view.secret);
      expect(doc?.webhook_secret?.created_at.toISOString()).toBe(view.created_at);
    });

    test('when asked twice, then it answers the same secret and created_at', async () => {
      const client = await h.user('secret-twice@example.com');
      const first = await client.webhookSecret();
      const second = await client.webhookSecret();
      expect(second).toEqual(first);
    });

    test('when two users ask, then they get different secrets', async () => {
      const alice = await h.user('secret-alice@example.com');
      const bob = await h.user('secret-bob@example.com');
      expect((await alice.webhookSecret()).secret).not.toBe((await bob.webhookSecret()).secret);
    });
  });

  describe('POST /api/webhooks/secret/rotate', () => {
    test('when no token is sent, then it answers 401', async () => {
      expect((await h.anonymous.request('POST', '/api/webhooks/secret/rotate')).status).toBe(401);
    });

    test('when rotated, then a new secret is answered, the old one stays previous for about 24 h, and GET shows the new one', async () => {
      const { client, userId } = await signIn(h, 'rotator@example.com');
      const old = await client.webhookSecret();

      const before = Date.now();
      const reply = await client.request<ApiSuccess<WebhookSecretView>>('POST', '/api/webhooks/secret/rotate');
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
      const rotated = WebhookSecretView.parse(reply.body.data);
      expect(rotated.secret).not.toBe(old.secret);
      expect(Buffer.from(rotated.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
      expect(rotated.previous_secret_expires_at).not.toBeNull();
      const expires = Date.parse(rotated.previous_secret_expires_at!);
      expect(expires).toBeGreaterThan(before + 23 * HOUR_MS);
      expect(expires).toBeLessThan(before + 25 * HOUR_MS);

      const after = await client.webhookSecret();
      expect(after.secret).toBe(rotated.secret);
      expect(after.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);

      const doc = await users().findOne({ _id: new ObjectId(userId) });
      expect(doc?.webhook_secret).toMatchObject({ current: rotated.secret, previous: old.secret });
      expect(doc?.webhook_secret?.previous_expires_at?.toISOString()).toBe(rotated.previous_secret_expires_at);
    });

    test('when rotated twice, then each answer is a new secret and the previous is the one just replaced', async () => {
      const { client, userId } = await signIn(h, 'rotator-twice@example.com');
      const first = await client.webhookSecret(true);
      const second = await client.webhookSecret(true);
      expect(second.secret).not.toBe(first.secret);
      const doc = await users().findOne({ _id: new ObjectId(userId) });
      expect(doc?.webhook_secret).toMatchObject({ current: second.secret, previous: first.secret });
    });

    test("when one user rotates, then another user's secret is unchanged", async () => {
      const stays = await h.user('rotate-bystander@example.com');
      const rotates = await h.user('rotate-actor@example.com');
      const kept = await stays.webhookSecret();
      await rotates.webhookSecret(true);
      expect(await stays.webhookSecret()).toEqual(kept);
    });
  });

  describe('GET /api/generations/:id/webhook-deliveries and redeliver', () => {
    let owner: ApiClient;
    let stranger: ApiClient;

    beforeAll(async () => {
      owner = await h.user('delivery-owner@example.com');
      stranger = await h.user('delivery-stranger@example.com');
    });

    const hooked = () =>
      owner.create({
        prompt: 'A cat whose webhook is logged',
        webhook_url: 'http://127.0.0.1:9/hook',
        webhook_events: ['start', 'completed'],
      });

    function message(generation: Generation, type: WebhookMessageDocument['type'], createdAt: Date) {
      const doc: WebhookMessageDocument = {
        _id: webhookMessageId(generation.id, type),
        generation_id: new ObjectId(generation.id),
        user_id: new ObjectId(generation.user_id),
        type,
        url: generation.webhook_url!,
        body: JSON.stringify({ type, timestamp: createdAt.toISOString(), data: { id: generation.id } }),
        state: 'delivered',
        attempts: 1,
        next_attempt_at: null,
        created_at: createdAt,
        updated_at: createdAt,
      };
      return doc;
    }

    function attempt(msg: WebhookMessageDocument, id: ObjectId, fields: Partial<WebhookAttemptDocument>) {
      const doc: WebhookAttemptDocument = {
        _id: id,
        message_id: msg._id,
        generation_id: msg.generation_id,
        user_id: msg.user_id,
        type: msg.type,
        trigger: 'scheduled',
        url: msg.url,
        attempted_at: msg.created_at,
        status_code: 200,
        error: null,
        duration_ms: 12,
        outcome: 'delivered',
        next_retry_at: null,
        ...fields,
      };
      return doc;
    }

    test('when no token is sent, then listing and redelivering answer 401', async () => {
      const generation = await hooked();
      const jobs = await webhookJobCount();
      expect((await h.anonymous.request('GET', `/api/generations/${generation.id}/webhook-deliveries`)).status).toBe(
        401,
      );
      expect(
        (await h.anonymous.request('POST', `/api/generations/${generation.id}/webhook-deliveries/redeliver`)).status,
      ).toBe(401);
      expect(await webhookJobCount()).toBe(jobs);
    });

    test('when the id is malformed, then listing and redelivering answer 400 naming params.id', async () => {
      for (const [method, path] of [
        ['GET', '/api/generations/not-an-id/webhook-deliveries'],
        ['GET', '/api/generations/123/webhook-deliveries'],
        ['POST', '/api/generations/zzzzzzzzzzzzzzzzzzzzzzzz/webhook-deliveries/redeliver'],
      ] as const) {
        const reply = await owner.request<ApiFailure>(method, path);
        expect({ path, status: reply.status, fields: fieldsOf(reply) }).toEqual({
          path,
          status: 400,
          fields: ['params.id'],
        });
      }
    });

    test('when the owner asks for a generation that sent nothing, then it answers 200 with empty lists', async () => {
      const generation = await hooked();
      const reply = await owner.request<ApiSuccess<WebhookDeliveries>>(
        'GET',
        `/api/generations/${generation.id}/webhook-deliveries`,
      );
      expect(reply.status).toBe(200);
      expect(reply.body.data).toEqual({ messages: [], attempts: [] });
    });

    test("when another user asks for someone's delivery log, then it answers 404 as for an unknown id", async () => {
      const generation = await hooked();
      const msg = message(generation, 'generation.completed', new Date());
      await messages().insertOne(msg);
      await attempts().insertOne(attempt(msg, new ObjectId(), {}));

      const path = (id: string) => `/api/generations/${id}/webhook-deliveries`;
      const unknown = await stranger.request('GET', path(new ObjectId().toHexString()));
      const foreign = await stranger.request('GET', path(generation.id));
      expect(unknown.status).toBe(404);
      expect(foreign.status).toBe(404);
      expect(foreign.body).toEqual(unknown.body);
      expect(JSON.stringify(foreign.body)).not.toContain(msg._id);
      // The owner sees it, so the 404 is about ownership.
      expect((await owner.deliveries(generation.id)).messages).toHaveLength(1);
    });

    test('when the worker logged a message and two attempts, then they are listed newest first, as views', async () => {
      const generation = await hooked();
      const t0 = Date.now() - 10 * 60_000;
      const msg: WebhookMessageDocument = {
        ...message(generation, 'generation.completed', new Date(t0)),
        state: 'delivered',
        attempts: 2,
      };
      // The newer attempt gets the smaller _id, so only ordering by attempted_at lists it first.
      const newerId = new ObjectId();
      const olderId = new ObjectId();
      const older = attempt(msg, olderId, {
        attempted_at: new Date(t0 + 1_000),
        status_code: 500,
        error: 'HTTP 500',
        duration_ms: 34,
        outcome: 'retrying',
        next_retry_at: new Date(t0 + 6_000),
      });
      const newer = attempt(msg, newerId, {
        attempted_at: new Date(t0 + 6_000),
        status_code: 204,
        duration_ms: 21,
      });
      await messages().insertOne(msg);
      await attempts().insertMany([older, newer]);
      // Another generation's log of the same user must not show up.
      const other = await hooked();
      const otherMsg = message(other, 'generation.completed', new Date(t0 + 2_000));
      await messages().insertOne(otherMsg);
      await attempts().insertOne(attempt(otherMsg, new ObjectId(), { attempted_at: new Date(t0 + 3_000) }));

      const reply = await owner.request<ApiSuccess<WebhookDeliveries>>(
        'GET',
        `/api/generations/${generation.id}/webhook-deliveries`,
      );
      expect(reply.status).toBe(200);
      const log = WebhookDeliveries.parse(reply.body.data);
      log.messages.forEach((view) => WebhookMessageView.parse(view));
      log.attempts.forEach((view) => WebhookAttemptView.parse(view));
      // Exactly the view fields: no body, generation_id or user_id leaks out.
      expect(reply.body.data).toEqual({
        messages: [
          {
            id: `msg_${generation.id}_completed`,
            type: 'generation.completed',
            url: 'http://127.0.0.1:9/hook',
            state: 'delivered',
            attempts: 2,
            next_attempt_at: null,
            created_at: new Date(t0).toISOString(),
          },
        ],
        attempts: [
          {
            id: newerId.toHexString(),
            message_id: msg._id,
            type: 'generation.completed',
            trigger: 'scheduled',
            url: 'http://127.0.0.1:9/hook',
            attempted_at: new Date(t0 + 6_000).toISOString(),
            status_code: 204,
            error: null,
            duration_ms: 21,
            outcome: 'delivered',
            next_retry_at: null,
          },
          {
            id: olderId.toHexString(),
            message_id: msg._id,
            type: 'generation.completed',
            trigger: 'scheduled',
            url: 'http://127.0.0.1:9/hook',
            attempted_at: new Date(t0 + 1_000).toISOString(),
            status_code: 500,
            error: 'HTTP 500',
            duration_ms: 34,
            outcome: 'retrying',
            next_retry_at: new Date(t0 + 6_000).toISOString(),
          },
        ],
      });
    });

    test('when a generation has two messages, then they are listed newest first, with a pending one as pending', async () => {
      const generation = await hooked();
      const t0 = Date.now() - 60_000;
      const completed: WebhookMessageDocument = {
        ...message(generation, 'generation.completed', new Date(t0 + 5_000)),
        state: 'retrying',
        attempts: 1,
        next_attempt_at: new Date(t0 + 65_000),
      };
      const started = message(generation, 'generation.started', new Date(t0));
      // Inserted newest first, and `_completed` sorts before `_started`: only created_at orders them.
      await messages().insertMany([completed, started]);
      const log = await owner.deliveries(generation.id);
      expect(log.messages.map((m) => [m.id, m.type, m.state, m.next_attempt_at])).toEqual([
        [completed._id, 'generation.completed', 'retrying', new Date(t0 + 65_000).toISOString()],
        [started._id, 'generation.started', 'delivered', null],
      ]);
      expect(log.attempts).toEqual([]);
    });

    test('when a generation has sent no message, then redeliver answers 409 and queues nothing', async () => {
      const generation = await hooked();
      const jobs = await webhookJobCount();
      const reply = await owner.request<ApiFailure>(
        'POST',
        `/api/generations/${generation.id}/webhook-deliveries/redeliver`,
      );
      expect(reply.status).toBe(409);
      expect(reply.body).toMatchObject({ success: false, message: expect.any(String) });
      expect(await webhookJobCount()).toBe(jobs);
    });

    test("when another user asks to redeliver someone's message, then it answers 404 and queues nothing", async () => {
      const generation = await hooked();
      await messages().insertOne(message(generation, 'generation.completed', new Date()));
      const jobs = await webhookJobCount();
      const path = (id: string) => `/api/generations/${id}/webhook-deliveries/redeliver`;
      const foreign = await stranger.request('POST', path(generation.id));
      const unknown = await stranger.request('POST', path(new ObjectId().toHexString()));
      expect(foreign.status).toBe(404);
      expect(unknown.status).toBe(404);
      expect(foreign.body).toEqual(unknown.body);
      expect(await webhookJobCount()).toBe(jobs);
    });

    test('when the owner asks to redeliver, then it answers 202 with the newest message id and a redeliver job is queued', async () => {
      const generation = await hooked();
      const t0 = Date.now() - 60_000;
      const newest = message(generation, 'generation.completed', new Date(t0 + 5_000));
      await messages().insertMany([newest, message(generation, 'generation.started', new Date(t0))]);
      const before = await webhookQueue.getJobs();

      const reply = await owner.request<ApiSuccess<{ message_id: string }>>(
        'POST',
        `/api/generations/${generation.id}/webhook-deliveries/redeliver`,
      );
      expect(reply.status).toBe(202);
      expect(reply.body.data).toEqual({ message_id: newest._id });

      const known = new Set(before.map((job) => job.id));
      const added = (await webhookQueue.getJobs()).filter((job) => !known.has(job.id));
      expect(added.map((job) => ({ name: job.name, data: job.data, attempts: job.opts.attempts }))).toEqual([
        { name: JOBS.webhookDeliver, data: { messageId: newest._id, trigger: 'redeliver' }, attempts: 1 },
      ]);
    });

    test('when the owner asks to redeliver twice, then each request queues its own job', async () => {
      const generation = await hooked();
      const msg = message(generation, 'generation.completed', new Date());
      await messages().insertOne(msg);
      const jobs = await webhookJobCount();
      const path = `/api/generations/${generation.id}/webhook-deliveries/redeliver`;
      expect((await owner.request('POST', path)).status).toBe(202);
      expect((await owner.request('POST', path)).status).toBe(202);
      expect(await webhookJobCount()).toBe(jobs + 2);
    });
  });
});
