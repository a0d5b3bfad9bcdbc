import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { QUEUES, WebhookPayload, webhookMessageId, type Generation, type WebhookType } from '@imagegen/shared';
import type { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { stateAfterActive } from '../support/lifecycle';
import { freePort } from '@imagegen/devstack';
import { runScript, spawnWorker, waitForOutput, type SpawnedService } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver, answer, type Delivery } from '../support/webhook-receiver';

const PUBLIC_BASE_URL = 'http://imagegen.test';

/** Checks a delivery as a receiver would, with the `standardwebhooks` package, and parses it. */
function verify(delivery: Delivery, secret: string): WebhookPayload {
  return WebhookPayload.parse(new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>));
}

/** POSTs JSON once the server listens (a just-spawned receiver may not yet); the status. */
async function postWhenUp(url: string, init: { body: string; headers: Record<string, string> }): Promise<number> {
  for (let tries = 0; ; tries++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        body: init.body,
        headers: { 'content-type': 'application/json', ...init.headers },
      });
      return res.status;
    } catch (err) {
      if (tries > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const delivered = (log: { messages: { state: string }[] }) =>
  log.messages.length > 0 && log.messages[0]?.state !== 'pending';

describe('webhooks: signed deliveries, retries, the delivery log and redelivery', () => {
  let system: System;
  let receiver: WebhookReceiver;
  let alice: ApiClient;
  let secret: string;
  let redis: Redis;
  let webhookQueue: Queue;
  let generationQueue: Queue;
  let generationEvents: QueueEvents;

  beforeAll(async () => {
    system = await startSystem({
      apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', PUBLIC_BASE_URL },
      workerEnv: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms',
        WEBHOOK_TIMEOUT_MS: '1000',
        PUBLIC_BASE_URL,
        // One image at a time: a delivery run inside an image job would then hold up the next image.
        WORKER_CONCURRENCY: '1',
      },
    });
    receiver = await WebhookReceiver.start();
    alice = await newUser(system, 'alice');
    secret = (await alice.webhookSecret()).secret;
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    const queueOptions = { connection: redis, prefix: system.env.queuePrefix };
    webhookQueue = new Queue(QUEUES.webhooks, queueOptions);
    generationQueue = new Queue(QUEUES.generations, queueOptions);
    generationEvents = new QueueEvents(QUEUES.generations, queueOptions);
    await generationEvents.waitUntilReady();
  });

  afterAll(async () => {
    await generationEvents?.close();
    await webhookQueue?.close();
    await generationQueue?.close();
    redis?.disconnect();
    await receiver?.close();
    await system?.stop();
  });

  /** Resolves once the generation's job has returned, so every webhook it would queue is queued. */
  async function jobFinished(generationId: string): Promise<void> {
    const job = await Job.fromId(generationQueue, generationId);
    if (!job) throw new Error(`no job for generation ${generationId}`);
    await job.waitUntilFinished(generationEvents, 30_000).catch(() => undefined);
  }

  test('when a generation completes, then the receiver gets exactly one generation.completed that standardwebhooks verifies, with an image URL instead of bytes', async () => {
    const created = await alice.create({ prompt: 'a lighthouse at dusk', webhook_url: receiver.url('/completed') });
    expect(created).toMatchObject({ webhook_url: receiver.url('/completed'), webhook_events: ['completed'] });

    const [delivery] = await receiver.waitFor('/completed', 1);
    const event = verify(delivery!, secret);
    expect(event.type).toBe('generation.completed');
    expect(delivery!.headers['webhook-id']).toBe(webhookMessageId(created.id, 'generation.completed'));
    expect(delivery!.headers['content-type']).toBe('application/json');
    expect(Number(delivery!.headers['webhook-timestamp'])).toBeGreaterThan(0);

    const record = (await alice.waitFor(created.id)) as Generation;
    const { image_url: recordImage, queue_position: _p, estimated_start_seconds: _e, ...recordRest } = record;
    const { image_url: imageUrl, ...eventRest } = event.data;
    expect(eventRest).toEqual(recordRest);
    expect(recordImage).toMatch(/^data:image\/png;base64,/);
    expect(imageUrl).toBe(`${PUBLIC_BASE_URL}/api/generations/${created.id}/image`);
    expect(delivery!.body).not.toContain('base64');
    expect(Buffer.byteLength(delivery!.body)).toBeLessThan(20_000);
    // The URL's path is the image's route on the API.
    expect((await alice.image(created.id)).status).toBe(200);

    const log = await alice.waitForDeliveries(created.id, delivered);
    expect(log.messages).toEqual([
      expect.objectContaining({ id: delivery!.headers['webhook-id'], state: 'delivered', attempts: 1 }),
    ]);
    expect(log.attempts).toEqual([
      expect.objectContaining({
        url: receiver.url('/completed'),
        status_code: 200,
        error: null,
        outcome: 'delivered',
        trigger: 'scheduled',
        next_retry_at: null,
      }),
    ]);
    expect(receiver.deliveriesTo('/completed')).toHaveLength(1);
  });

  test('when a generation fails, then the receiver gets one generation.failed carrying the error', async () => {
    system.emulator.always('test/missing', hf.notFound('test/missing'));
    const created = await alice.create({
      prompt: 'a ghost',
      model: 'test/missing',
      webhook_url: receiver.url('/failed'),
    });

    const [delivery] = await receiver.waitFor('/failed', 1);
    const event = verify(delivery!, secret);
    expect(event.type).toBe('generation.failed');
    expect(event.data).toMatchObject({ id: created.id, status: 'failed', image_url: null, image: null });
    expect(event.data.error).toContain('test/missing');
    expect(delivery!.headers['webhook-id']).toBe(webhookMessageId(created.id, 'generation.failed'));

    await alice.waitForDeliveries(created.id, delivered);
    expect(receiver.deliveriesTo('/failed')).toHaveLength(1);
  });

  test('when start is asked for too, then generation.started arrives (as processing) besides generation.completed', async () => {
    const created = await alice.create({
      prompt: 'a kite',
      webhook_url: receiver.url('/both'),
      webhook_events: ['start', 'completed'],
    });
    const deliveries = await receiver.waitFor('/both', 2);
    const events = deliveries.map((d) => verify(d, secret));
    const byType = new Map(events.map((e) => [e.type, e]));
    expect([...byType.keys()].sort()).toEqual<WebhookType[]>(['generation.completed', 'generation.started']);
    expect(byType.get('generation.started')?.data).toMatchObject({
      id: created.id,
      status: 'processing',
      image_url: null,
    });
    expect(new Set(deliveries.map((d) => d.headers['webhook-id']))).toEqual(
      new Set([
        webhookMessageId(created.id, 'generation.started'),
        webhookMessageId(created.id, 'generation.completed'),
      ]),
    );
  });

  test('when only start is asked for, then no generation.completed is sent', async () => {
    const created = await alice.create({
      prompt: 'a comet',
      webhook_url: receiver.url('/start-only'),
      webhook_events: ['start'],
    });
    await jobFinished(created.id);
    const log = await alice.waitForDeliveries(created.id, delivered);
    expect(log.messages.map((m) => m.type)).toEqual(['generation.started']);
    expect(receiver.deliveriesTo('/start-only').map((d) => verify(d, secret).type)).toEqual(['generation.started']);
  });

  test('when the receiver answers 500 twice and then 200, then three attempts carry one webhook-id and the log shows all three', async () => {
    receiver.script('/flaky', answer.status(500), answer.status(503));
    const created = await alice.create({ prompt: 'a bridge', webhook_url: receiver.url('/flaky') });

    const deliveries = await receiver.waitFor('/flaky', 3);
    expect(new Set(deliveries.map((d) => d.headers['webhook-id']))).toEqual(
      new Set([webhookMessageId(created.id, 'generation.completed')]),
    );
    // Every attempt is signed afresh, and the body is the same bytes each time.
    for (const d of deliveries) expect(verify(d, secret).type).toBe('generation.completed');
    expect(new Set(deliveries.map((d) => d.body)).size).toBe(1);

    const log = await alice.waitForDeliveries(created.id, (l) => l.messages[0]?.state === 'delivered');
    expect(log.messages[0]).toMatchObject({ state: 'delivered', attempts: 3, next_attempt_at: null });
    const oldestFirst = [...log.attempts].reverse();
    expect(oldestFirst.map((a) => [a.status_code, a.outcome])).toEqual([
      [500, 'retrying'],
      [503, 'retrying'],
      [200, 'delivered'],
    ]);
    expect(oldestFirst[0]!.error).toContain('500');
    for (const a of oldestFirst.slice(0, 2)) {
      expect(Date.parse(a.next_retry_at!)).toBeGreaterThan(Date.parse(a.attempted_at));
    }
    expect(oldestFirst[2]!.next_retry_at).toBeNull();
  });

  test('when the receiver hangs, then the attempt is cut at the timeout and retried', async () => {
    receiver.script('/slow', answer.hang());
    const created = await alice.create({ prompt: 'a snail', webhook_url: receiver.url('/slow') });

    await receiver.waitFor('/slow', 2);
    const log = await alice.waitForDeliveries(created.id, (l) => l.messages[0]?.state === 'delivered');
    const [first, second] = [...log.attempts].reverse();
    expect(first).toMatchObject({ status_code: null, outcome: 'retrying' });
    expect(first!.error).toMatch(/no complete answer within 1000 ms/);
    expect(second).toMatchObject({ status_code: 200, outcome: 'delivered' });
  });

  test('when the receiver answers 410, then that message is not retried', async () => {
    receiver.script('/gone', answer.status(410));
    const created = await alice.create({ prompt: 'an empty room', webhook_url: receiver.url('/gone') });

    const log = await alice.waitForDeliveries(created.id, (l) => l.messages[0]?.state === 'stopped');
    expect(log.attempts).toEqual([
      expect.objectContaining({ status_code: 410, outcome: 'stopped', next_retry_at: null }),
    ]);
    // Its job has failed for good, so no further attempt can come.
    const messageId = webhookMessageId(created.id, 'generation.completed');
    expect(await stateAfterActive(() => webhookQueue.getJobState(messageId))).toBe('failed');
    expect(receiver.deliveriesTo('/gone')).toHaveLength(1);
  });

  test('when a user asks for a redelivery, then the last message is sent again with the same webhook-id and body', async () => {
    const created = await alice.create({ prompt: 'a second chance', webhook_url: receiver.url('/again') });
    await alice.waitForDeliveries(created.id, delivered);

    const reply = await alice.request<{ data: { message_id: string } }>(
      'POST',
      `/api/generations/${created.id}/webhook-deliveries/redeliver`,
    );
    expect(reply.status).toBe(202);
    expect(reply.body.data.message_id).toBe(webhookMessageId(created.id, 'generation.completed'));

    const [first, again] = await receiver.waitFor('/again', 2);
    expect(again!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(again!.body).toBe(first!.body);
    expect(verify(again!, secret).type).toBe('generation.completed');
    const log = await alice.waitForDeliveries(created.id, (l) => l.attempts.length === 2);
    expect(log.attempts.map((a) => a.trigger).sort()).toEqual(['redeliver', 'scheduled']);
  });

  test('when a user rotates the secret, then deliveries during the overlap verify with the old and with the new secret', async () => {
    const bob = await newUser(system, 'bob');
    const old = await bob.webhookSecret();
    const rotated = await bob.webhookSecret(true);
    expect(rotated.secret).not.toBe(old.secret);
    expect(rotated.previous_secret_expires_at).not.toBeNull();

    await bob.create({ prompt: 'a new key', webhook_url: receiver.url('/rotated') });
    const [delivery] = await receiver.waitFor('/rotated', 1);
    expect(String(delivery!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(delivery!, old.secret).type).toBe('generation.completed');
    expect(verify(delivery!, rotated.secret).type).toBe('generation.completed');
    expect(() => verify(delivery!, secret)).toThrow();
  });

  test("when the README's receiver gets a delivery, then it verifies it, and it refuses a forged one", async () => {
    const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
    const snippet = /```js\n([\s\S]*?new Webhook[\s\S]*?)```/.exec(readme)?.[1];
    expect(snippet).toBeDefined();
    const port = await freePort();
    // Beside the tests, so its imports resolve from the workspace's node_modules.
    const file = resolve(__dirname, `readme-receiver-${process.pid}.mjs`);
    writeFileSync(file, snippet!.replace('.listen(3000)', `.listen(${port}, '127.0.0.1')`));
    const child = runScript(file, { IMAGEGEN_WEBHOOK_SECRET: secret });
    try {
      const url = `http://127.0.0.1:${port}/imagegen`;
      const forged = await postWhenUp(url, {
        body: '{"type":"generation.completed"}',
        headers: {
          'webhook-id': 'msg_x',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': 'v1,Zm9yZ2Vk',
        },
      });
      expect(forged).toBe(400);

      const created = await alice.create({ prompt: 'a postcard', webhook_url: url });
      await waitForOutput(child, (out) => out.includes(created.id));
      expect(child.output()).toContain(
        `generation.completed ${created.id} completed ${PUBLIC_BASE_URL}/api/generations/${created.id}/image`,
      );
      const log = await alice.waitForDeliveries(created.id, delivered);
      expect(log.attempts[0]).toMatchObject({ status_code: 204, outcome: 'delivered' });
    } finally {
      child.child.kill();
      rmSync(file, { force: true });
    }
  });

  test('when a receiver never answers, then image work goes on: a later generation completes while that webhook still fails', async () => {
    receiver.script('/dead', ...Array.from({ length: 10 }, () => answer.hang()));
    const stuck = await alice.create({ prompt: 'a message in a bottle', webhook_url: receiver.url('/dead') });
    await receiver.waitFor('/dead', 1);

    const next = await alice.create({ prompt: 'the next picture' });
    expect((await alice.waitFor(next.id)).status).toBe('completed');

    const log = await alice.deliveries(stuck.id);
    expect(log.messages[0]?.state).toMatch(/^(pending|retrying)$/);
    expect((await alice.waitFor(stuck.id)).status).toBe('completed');
  });
});

describe('webhooks: the worker checks the target again when it delivers', () => {
  let system: System;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    // The API lets a loopback URL through (as if it had resolved to a public address then); the
    // worker, with the switch off, must still refuse to call it.
    system = await startSystem({ apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' }, workerEnv: { PUBLIC_BASE_URL } });
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await receiver?.close();
    await system?.stop();
  });

  test('when a webhook targets a loopback address at delivery time, then it fails without a connection and is not retried', async () => {
    const carol = await newUser(system, 'carol');
    const created = await carol.create({ prompt: 'a rebinding trick', webhook_url: receiver.url('/private') });
    expect((await carol.waitFor(created.id)).status).toBe('completed');

    const log = await carol.waitForDeliveries(created.id, (l) => l.messages[0]?.state === 'failed');
    expect(log.attempts).toEqual([
      expect.objectContaining({ status_code: null, outcome: 'failed', next_retry_at: null }),
    ]);
    expect(log.attempts[0]!.error).toBe('not a public address');
    expect(receiver.connections).toBe(0);
  });
});

describe('webhooks: at least once, with one webhook-id, across a worker crash', () => {
  let system: System;
  let receiver: WebhookReceiver;
  let replacement: SpawnedService | undefined;

  beforeAll(async () => {
    system = await startSystem({
      apiEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
      workerEnv: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        PUBLIC_BASE_URL,
        // Short locks, so the job of the killed worker is found stalled within seconds.
        WORKER_LOCK_MS: '1000',
        WORKER_STALLED_INTERVAL_MS: '500',
      },
    });
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await replacement?.stop();
    await receiver?.close();
    await system?.stop();
  });

  test('when the worker dies while the receiver holds the request, then another worker sends the message again with the same webhook-id', async () => {
    const dave = await newUser(system, 'dave');
    const { secret } = await dave.webhookSecret();
    receiver.script('/crash', answer.hang());
    const created = await dave.create({ prompt: 'a phoenix', webhook_url: receiver.url('/crash') });
    await receiver.waitFor('/crash', 1);

    await system.worker.stop('SIGKILL');
    replacement = await spawnWorker(system.workerEnv);

    const [first, again] = await receiver.waitFor('/crash', 2);
    expect(again!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(again!.body).toBe(first!.body);
    expect(verify(again!, secret).data.id).toBe(created.id);
    const log = await dave.waitForDeliveries(created.id, (l) => l.messages[0]?.state === 'delivered');
    expect(log.attempts.at(0)).toMatchObject({ status_code: 200, outcome: 'delivered' });
  });
});
