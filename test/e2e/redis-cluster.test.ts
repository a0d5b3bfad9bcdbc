import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { startRedisCluster, type RedisCluster } from '@imagegen/devstack';
import { QUEUES, WebhookPayload, type GenerationEvent } from '@imagegen/shared';
import { DashboardSession } from '../support/admin-dashboard-http';
import { cancel, type ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { HfTap } from '../support/lifecycle';
import { SseClients } from '../support/sse';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver } from '../support/webhook-receiver';

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' };
const PREFIX = '{cluster-e2e}';
const ENDED = ['completed', 'failed', 'canceled'] as const;

/**
 * The whole system on a real Redis Cluster of 3 primaries and 3 replicas: every capability that
 * goes through Redis, once each. A key outside the prefix's slot would fail its script or
 * pipeline with CROSSSLOT here; the last test asks the cluster where every key landed.
 */
describe('on a Redis Cluster (3 primaries, 3 replicas)', () => {
  let dir: string;
  let cluster: RedisCluster;
  let system: System;
  let tap: HfTap;
  let receiver: WebhookReceiver;
  let alice: ApiClient;
  const streams = new SseClients();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imagegen-cluster-'));
    cluster = await startRedisCluster(dir);
    tap = await HfTap.start();
    receiver = await WebhookReceiver.start();
    const redisEnv = { REDIS_CLUSTER_NODES: cluster.seeds, QUEUE_PREFIX: PREFIX, WEBHOOK_ALLOW_PRIVATE: 'true' };
    system = await startSystem({
      apiEnv: { ...redisEnv, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, MAX_IN_FLIGHT_PER_USER: '2' },
      workerEnv: { ...redisEnv, HF_BASE_URL: tap.baseUrl, HF_TIMEOUT_MS: '60000', HF_MAX_WAIT_MS: '60000' },
    });
    tap.forwardTo(system.emulator.baseUrl);
    alice = await newUser(system, 'alice');
  }, 120_000);

  afterAll(async () => {
    streams.closeAll();
    await system?.stop();
    await Promise.all([tap?.close(), receiver?.close()]);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('when a generation is created, then it completes with its image, and the list shows it', async () => {
    const created = await alice.create({ prompt: 'a lighthouse on a cluster' });
    const done = await alice.waitFor(created.id);
    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(done.image_url).toMatch(/^data:image\/png;base64,/);
    expect((await alice.image(done.id)).status).toBe(200);
    expect((await alice.list()).items.map((item) => item.id)).toContain(done.id);
  });

  test('when a generation asks for a webhook, then exactly one signed generation.completed arrives', async () => {
    const secret = (await alice.webhookSecret()).secret;
    const created = await alice.create({ prompt: 'a webhook on a cluster', webhook_url: receiver.url('/cluster') });
    const [delivery] = await receiver.waitFor('/cluster', 1);
    const event = WebhookPayload.parse(
      new Webhook(secret).verify(delivery!.body, delivery!.headers as Record<string, string>),
    );
    expect(event).toMatchObject({ type: 'generation.completed', data: { id: created.id } });
    await alice.waitForDeliveries(created.id, (log) => log.messages.some((m) => m.state === 'delivered'));
    expect(receiver.deliveriesTo('/cluster')).toHaveLength(1);
  });

  test('when a stream is dropped and resumed with Last-Event-ID, then it gets the rest, nothing twice', async () => {
    const model = 'test/cluster-stream';
    system.emulator.script(model, hf.coldStart(model, 0.3), hf.png(300));
    const created = await alice.create({ prompt: 'a stream on a cluster', model });
    const url = `${system.api.url}/api/generations/${created.id}/events`;
    const auth = { authorization: `Bearer ${alice.token}` };

    const first = await streams.open(url, auth);
    await first.waitFor('two events', (c) => c.events.length >= 2);
    first.close();
    const resumed = await streams.open(url, { ...auth, 'last-event-id': first.lastEventId! });
    await resumed.ended();
    const full = await streams.open(url, auth);
    await full.ended();

    const types = (full.data as GenerationEvent[]).map((e) => (e.type === 'status' ? e.status : e.type));
    expect(types).toEqual(['pending', 'processing', 'notice', 'completed']);
    expect([...first.events, ...resumed.events].map((e) => e.id)).toEqual(full.events.map((e) => e.id));
  });

  test('when a processing generation is canceled, then the worker, told through pub/sub, hangs up on Hugging Face', async () => {
    const model = 'test/cluster-cancel';
    system.emulator.always(model, hf.png(30_000));
    const created = await alice.create({ prompt: 'canceled on a cluster', model });
    await system.emulator.waitForRequests(model, 1);
    await alice.waitFor(created.id, ['processing']);

    const reply = await cancel(alice, created.id);
    expect(reply.status).toBe(200);
    await tap.waitForClientGone(model, 1);
    expect(await alice.waitFor(created.id, [...ENDED])).toMatchObject({ status: 'canceled', cancel_reason: 'user' });
  });

  test('when a user has as many generations in flight as allowed, then the next create answers 429, and once one ends it is accepted', async () => {
    const model = 'test/cluster-cap';
    let release = () => {};
    system.emulator.always(model, hf.pngWhen(new Promise<void>((resolve) => (release = resolve))));
    const bob = await newUser(system, 'bob');
    const held = [await bob.create({ prompt: 'one', model }), await bob.create({ prompt: 'two', model })];
    const refused = await bob.request('POST', '/api/generations/', { prompt: 'three', model });
    expect(refused.status).toBe(429);

    release();
    for (const generation of held) expect(await bob.waitFor(generation.id)).toMatchObject({ status: 'completed' });
    const accepted = await bob.request('POST', '/api/generations/', { prompt: 'three again' });
    expect(accepted.status).toBe(202);
  });

  test('when an admin opens the dashboard, then bull-board lists the queues with their jobs, and pausing and resuming the generations queue works', async () => {
    const dashboard = await DashboardSession.signIn(system.api.url, ADMIN.email, ADMIN.password);
    const listed = await dashboard.api<{ queues: { name: string; counts: Record<string, number> }[] }>(
      'GET',
      '/queues?activeQueue=generations&status=completed&page=1',
    );
    expect(listed.status).toBe(200);
    const generations = listed.body.queues.find((queue) => queue.name === QUEUES.generations);
    expect(generations?.counts.completed).toBeGreaterThan(0);

    const admin = system.client();
    await admin.login(ADMIN.email, ADMIN.password);
    const overview = async () =>
      (
        await admin.request<{ data: { queues: { name: string; paused: boolean; workers: number }[] } }>(
          'GET',
          '/api/admin/queues',
        )
      ).body.data.queues.find((queue) => queue.name === QUEUES.generations);
    expect(await overview()).toMatchObject({ paused: false, workers: 1 });
    expect((await dashboard.api('PUT', `/queues/${QUEUES.generations}/pause`)).status).toBe(200);
    expect(await overview()).toMatchObject({ paused: true });
    expect((await dashboard.api('PUT', `/queues/${QUEUES.generations}/resume`)).status).toBe(200);
    expect(await overview()).toMatchObject({ paused: false });
  });

  test('when the cluster is asked where every key landed, then each key of ours and of BullMQ is under the prefix and all hash to one slot', async () => {
    const client = new Cluster(cluster.nodes);
    try {
      const prefixSlot = await client.cluster('KEYSLOT', PREFIX);
      const keys: string[] = [];
      // Once connected, the client knows every primary; each holds its own slots' keys.
      for (const primary of client.nodes('master')) {
        let cursor = '0';
        do {
          const [next, found] = await primary.scan(cursor, 'COUNT', 1000);
          keys.push(...found);
          cursor = next;
        } while (cursor !== '0');
      }
      // Every family the flows above wrote: BullMQ's queues, our limits, events, caches and sets.
      for (const family of [
        `${PREFIX}:generations:`,
        `${PREFIX}:webhooks:`,
        `${PREFIX}:create-rate:`,
        `${PREFIX}:generation-events:`,
        `${PREFIX}:generation-run-ms`,
      ])
        expect({ family, found: keys.some((key) => key.startsWith(family)) }).toEqual({ family, found: true });
      expect(keys.filter((key) => !key.startsWith(`${PREFIX}:`))).toEqual([]);
      const slots = new Set(await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key))));
      expect([...slots]).toEqual([prefixSlot]);
    } finally {
      client.disconnect();
    }
  });
});
