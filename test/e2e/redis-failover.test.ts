import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startRedisCluster,
  startRedisSentinels,
  withNode,
  type RedisAddress,
  type RedisSentinels,
} from '@imagegen/devstack';
import { QUEUES, generationJobId, webhookMessageId, type ApiSuccess, type Generation } from '@imagegen/shared';
import type { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver, answer } from '../support/webhook-receiver';

const MODEL = 'test/failover';
/** Creates per second, for this long, with the primary killed this far in. */
const RATE = 10;
const SEND_MS = 12_000;
const KILL_AT_MS = 4_000;
/** A create that has not answered by then counts as hung. */
const HUNG_MS = 15_000;

interface Sent {
  at: number;
  status: number | 'hung' | 'network';
  retryAfter: string | null;
  id?: string;
}

/** What a failover run measured, printed for the closing note and checked below. */
interface Figures {
  sent: number;
  accepted: number;
  refused503: number;
  refusedMs: number;
  flowingAgainMs: number;
}

/**
 * Creates at RATE per second for SEND_MS while `kill` takes the primary away at KILL_AT_MS; then
 * every accepted generation must complete, the refusals must be 503s with Retry-After, and the
 * same worker process must have done the work after the failover.
 */
async function failover(system: System, client: ApiClient, kill: () => Promise<void>): Promise<Figures> {
  system.emulator.always(MODEL, hf.png(200));
  const workerPid = system.worker.child.pid;
  const started = Date.now();
  const sends: Promise<Sent>[] = [];
  const killed = (async () => {
    await new Promise((resolve) => setTimeout(resolve, KILL_AT_MS));
    const at = Date.now();
    await kill();
    return at;
  })();
  for (let n = 0; Date.now() - started < SEND_MS; n++) {
    sends.push(send(system, client, n));
    await new Promise((resolve) => setTimeout(resolve, 1000 / RATE));
  }
  const [killAt, sent] = await Promise.all([killed, Promise.all(sends)]);

  const odd = sent.filter((s) => s.status !== 202 && s.status !== 503);
  // With the API's own account of each, should any be there.
  const failures = odd.length
    ? system.api
        .output()
        .split('\n')
        .filter((line) => line.includes('request failed'))
    : [];
  expect({ odd, failures }).toEqual({ odd: [], failures: [] });
  const refused = sent.filter((s) => s.status === 503);
  for (const s of refused) expect(Number(s.retryAfter)).toBeGreaterThan(0);

  const accepted = sent.filter((s) => s.status === 202);
  const ended = await Promise.all(accepted.map((s) => client.waitFor(s.id!, undefined, 90_000)));
  expect(ended.filter((g) => g.status !== 'completed').map((g) => [g.id, g.status, g.error])).toEqual([]);
  // Completed once: a second completion would have to reopen the record, which leaves history.
  expect(ended.filter((g) => g.history.length > 0)).toEqual([]);
  expect(system.worker.child.pid).toBe(workerPid);
  expect(system.worker.child.exitCode).toBeNull();

  const afterKill = ended.filter((g) => Date.parse(g.created_at) > killAt);
  expect(afterKill.length).toBeGreaterThan(0);
  const firstDone = Math.min(...afterKill.map((g) => Date.parse(g.completed_at!)));
  const refusedTimes = refused.map((s) => s.at);
  return {
    sent: sent.length,
    accepted: accepted.length,
    refused503: refused.length,
    refusedMs: refused.length ? Math.max(...refusedTimes) - Math.min(...refusedTimes) : 0,
    flowingAgainMs: firstDone - killAt,
  };
}

async function send(system: System, client: ApiClient, n: number): Promise<Sent> {
  const at = Date.now();
  try {
    const res = await fetch(`${system.api.url}/api/generations/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${client.token}` },
      body: JSON.stringify({ prompt: `failover ${n}`, model: MODEL }),
      signal: AbortSignal.timeout(HUNG_MS),
    });
    const body = (await res.json()) as ApiSuccess<Generation>;
    return { at, status: res.status, retryAfter: res.headers.get('retry-after'), id: body.data?.id };
  } catch (err) {
    return { at, status: (err as Error).name === 'TimeoutError' ? 'hung' : 'network', retryAfter: null };
  }
}

/** Settings that let a long burst of creates through and find lost jobs again within seconds. */
const API_ENV = { CREATE_RATE_LIMIT: '100000', MAX_IN_FLIGHT_PER_USER: '10000' };
const WORKER_ENV = { RECONCILE_INTERVAL_MS: '1000', RECONCILE_AFTER_MS: '3000', WORKER_CONCURRENCY: '8' };

/** The system on `topology`'s Redis, for `use`; then both are stopped. */
async function onRedis<T extends { stop(): Promise<void> }>(
  topology: T,
  redisEnv: Record<string, string>,
  apiEnv: Record<string, string>,
  use: (system: System, alice: ApiClient) => Promise<void>,
): Promise<void> {
  try {
    const system = await startSystem({ apiEnv: { ...redisEnv, ...apiEnv }, workerEnv: { ...redisEnv, ...WORKER_ENV } });
    try {
      await use(system, await newUser(system, 'alice'));
    } finally {
      await system.stop();
    }
  } finally {
    await topology.stop();
  }
}

const sentinelEnv = (sentinels: RedisSentinels) => ({
  REDIS_SENTINELS: sentinels.sentinelList,
  REDIS_SENTINEL_MASTER: sentinels.masterName,
});

describe('Redis failover under load', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'imagegen-failover-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('when the cluster primary that owns the queue slot is SIGKILLed mid-load, then every accepted create completes once, refusals are 503 with Retry-After, and the same worker consumes again', async () => {
    const cluster = await startRedisCluster(dir);
    const redisEnv = { REDIS_CLUSTER_NODES: cluster.seeds, QUEUE_PREFIX: '{failover}' };
    await onRedis(cluster, redisEnv, API_ENV, async (system, alice) => {
      let killed: RedisAddress | undefined;
      const figures = await failover(system, alice, async () => {
        killed = await cluster.primaryFor('{failover}');
        await cluster.kill(killed.port);
      });
      expect((await cluster.primaryFor('{failover}')).port).not.toBe(killed!.port);
      console.log(`[failover] cluster: ${JSON.stringify(figures)}`);
    });
  }, 240_000);

  test('when the Sentinels primary is SIGKILLed mid-load, then a replica is promoted, every accepted create completes once, refusals are 503 with Retry-After, and the same worker consumes again', async () => {
    const sentinels = await startRedisSentinels(dir);
    await onRedis(sentinels, sentinelEnv(sentinels), API_ENV, async (system, alice) => {
      const before = await sentinels.primary();
      const figures = await failover(system, alice, () => sentinels.kill(before.port));
      expect((await sentinels.waitForPrimaryChange(before.port)).port).not.toBe(before.port);
      console.log(`[failover] sentinel: ${JSON.stringify(figures)}`);
    });
  }, 240_000);

  test('when a job acknowledged by the primary never reached its replica and the replica is promoted, then the reconciler finds the pending generation and it completes', async () => {
    const sentinels = await startRedisSentinels(dir);
    await onRedis(sentinels, sentinelEnv(sentinels), {}, async (system, alice) => {
      const [primary, replica] = sentinels.dataNodes as [RedisAddress, RedisAddress];
      const replicaPid = await pidOf(replica);
      const workerPid = system.worker.child.pid!;
      try {
        // The worker stops taking jobs, and the replica stops copying the primary.
        process.kill(workerPid, 'SIGSTOP');
        await cutReplica(primary, replicaPid);
        const created = await alice.create({ prompt: 'acknowledged, then lost', model: MODEL });
        await sentinels.kill(primary.port);
        process.kill(replicaPid, 'SIGCONT');
        expect((await sentinels.waitForPrimaryChange(primary.port, 30_000)).port).toBe(replica.port);

        const jobKey = `${system.env.queuePrefix}:${QUEUES.generations}:${generationJobId(created.id, 1)}`;
        expect(await withNode(replica.port, (node) => node.exists(jobKey))).toBe(0);
        process.kill(workerPid, 'SIGCONT');
        // The API answers 503 until its own connection has followed the Sentinels to the new primary.
        await ready(system.api.url);
        const done = await alice.waitFor(created.id, undefined, 60_000);
        expect(done).toMatchObject({ status: 'completed', error: null });
      } finally {
        if (system.worker.child.exitCode === null) process.kill(workerPid, 'SIGCONT');
      }
    });
  }, 240_000);

  test("when a webhook's retry was acknowledged but never replicated, then the reconciler queues it again and the receiver gets it", async () => {
    const receiver = await WebhookReceiver.start();
    const sentinels = await startRedisSentinels(dir);
    const hooks = { WEBHOOK_ALLOW_PRIVATE: 'true' };
    const env = { ...sentinelEnv(sentinels), ...hooks };
    try {
      await onRedis(sentinels, { ...env, WEBHOOK_RETRY_SCHEDULE: '2s' }, hooks, async (system, alice) => {
        const [primary, replica] = sentinels.dataNodes as [RedisAddress, RedisAddress];
        const replicaPid = await pidOf(replica);
        await cutReplica(primary, replicaPid);
        // The first attempt fails: its retry, a delayed job due in 2 s, is then on the primary only.
        receiver.script('/lost', answer.status(500));
        const created = await alice.create({ prompt: 'a webhook retried', webhook_url: receiver.url('/lost') });
        await receiver.waitFor('/lost', 1);
        await alice.waitForDeliveries(created.id, (log) => log.messages[0]?.state === 'retrying');
        await sentinels.kill(primary.port);
        process.kill(replicaPid, 'SIGCONT');
        expect((await sentinels.waitForPrimaryChange(primary.port, 30_000)).port).toBe(replica.port);
        const jobKey = `${system.env.queuePrefix}:${QUEUES.webhooks}:${webhookMessageId(created.id, 'generation.completed')}`;
        expect(await withNode(replica.port, (node) => node.exists(jobKey))).toBe(0);

        await ready(system.api.url).catch((err: Error) => {
          throw new Error(`${err.message}\n${system.api.output().split('\n').slice(-15).join('\n')}`);
        });
        const log = await alice.waitForDeliveries(created.id, (l) => l.messages[0]?.state === 'delivered', 60_000);
        expect(log.attempts.map((attempt) => attempt.status_code).sort()).toEqual([200, 500]);
        expect(receiver.deliveriesTo('/lost')).toHaveLength(2);
      });
    } finally {
      await receiver.close();
    }
  }, 240_000);
});

/** Resolves once the API says it can work (`/readyz`), within 30 s. */
async function ready(apiUrl: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${apiUrl}/readyz`).catch(() => null);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`the API never became ready again: ${await res?.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Stops the replica copying the primary: the process stopped, and its link cut from the primary's
 * side (a stopped replica's socket would still take in what the primary sends). What the primary
 * acknowledges from now on exists only there, as with a replica lagging behind when it dies.
 * SIGCONT the replica to let it be promoted.
 */
async function cutReplica(primary: RedisAddress, replicaPid: number): Promise<void> {
  process.kill(replicaPid, 'SIGSTOP');
  await withNode(primary.port, (node) => node.call('CLIENT', 'KILL', 'TYPE', 'replica'));
}

/** The process behind a Redis node, as it reports itself. */
const pidOf = (node: RedisAddress) =>
  withNode(node.port, async (client) => Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]));
