import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { waitFor } from '../src/processes';
import { startRedisCluster, type RedisCluster } from '../src/redis-cluster';
import { startRedisSentinels, type RedisSentinels } from '../src/redis-sentinel';

const START_TIMEOUT_MS = 40_000;
const FAILOVER_TIMEOUT_MS = 15_000;

const direct = (port: number) => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });

async function using<T>(client: Redis | Cluster, use: () => Promise<T>): Promise<T> {
  try {
    return await use();
  } finally {
    client.disconnect();
  }
}

/** Node ids by role and their addresses, read from one node's CLUSTER NODES: `<id> <ip:port@bus> <flags> <primary id> …`. */
function roles(clusterNodes: string): { primaries: string[]; replicasOf: string[]; ids: Map<string, string> } {
  const lines = clusterNodes
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const ids = new Map(lines.map(([id, address]) => [id!, address!.split('@')[0]!]));
  const primaries = lines.filter(([, , flags]) => flags!.includes('master')).map(([id]) => id!);
  const replicasOf = lines.filter(([, , flags]) => flags!.includes('slave')).map(([, , , primary]) => primary!);
  return { primaries, replicasOf, ids };
}

/** Starts a topology before the tests of the enclosing `describe` and stops it after them. */
function startedFor<T extends { stop(): Promise<void> }>(start: (workDir: string) => Promise<T>): () => T {
  let workDir: string;
  let started: T | undefined;
  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'devstack-topologies-'));
    started = await start(workDir);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await started?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });
  return () => started!;
}

describe('a Redis Cluster of 3 primaries and 3 replicas on free ports', () => {
  const started = startedFor((workDir) => startRedisCluster(workDir));
  let cluster: RedisCluster;
  beforeAll(() => (cluster = started()));
  const clusterClient = () =>
    new Cluster(cluster.nodes, { redisOptions: { connectTimeout: 1_000 }, retryDelayOnFailover: 200 });

  test('when started, then every node has met the others, each primary has a replica, and all 16384 slots are served', async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.seeds).toBe(cluster.nodes.map(({ port }) => `127.0.0.1:${port}`).join(','));
    expect(cluster.url).toBe(`redis+cluster://${cluster.seeds}`);
    for (const { port } of cluster.nodes) {
      const client = direct(port);
      const [info, nodes] = await using(client, () =>
        Promise.all([
          client.call('CLUSTER', 'INFO') as Promise<string>,
          client.call('CLUSTER', 'NODES') as Promise<string>,
        ]),
      );
      expect(info).toMatch(/cluster_state:ok/);
      expect(info).toMatch(/cluster_slots_ok:16384/);
      expect(info).toMatch(/cluster_known_nodes:6/);
      expect(info).toMatch(/cluster_size:3/);
      const { primaries, replicasOf, ids } = roles(nodes);
      expect(primaries).toHaveLength(3);
      expect([...replicasOf].sort()).toEqual([...primaries].sort());
      expect([...ids.values()].sort()).toEqual(cluster.seeds.split(',').sort());
    }
  });

  test('when a key is set through a Cluster client, then it is read back, from the node primaryFor names', async () => {
    const client = clusterClient();
    await using(client, async () => {
      await client.set('topologies:read-back', 'hello');
      expect(await client.get('topologies:read-back')).toBe('hello');
    });
    const owner = await cluster.primaryFor('topologies:read-back');
    const node = direct(owner.port);
    await using(node, async () => expect(await node.get('topologies:read-back')).toBe('hello'));
  });

  test('when the primary owning a key is SIGKILLed, then a replica takes over with the key, and the killed node rejoins as a replica', async () => {
    const key = 'topologies:failover';
    const before = await cluster.primaryFor(key);
    const owner = direct(before.port);
    await using(owner, async () => {
      await owner.set(key, 'kept');
      // Acknowledged by the replica before the kill, so a failover may not lose it.
      expect(await owner.call('WAIT', 1, 1_000)).toBe(1);
    });

    const killedAt = Date.now();
    await cluster.kill(before.port);
    await waitFor(
      `a replica to take over from ${before.port}`,
      async () => {
        if ((await cluster.primaryFor(key)).port === before.port) throw new Error('not yet');
      },
      FAILOVER_TIMEOUT_MS,
    );
    const failoverMs = Date.now() - killedAt;
    console.log(`[redis-topologies] cluster failover: ${failoverMs} ms from SIGKILL to a promoted replica`);
    const after = await cluster.primaryFor(key);
    expect(after.port).not.toBe(before.port);
    expect(after.pid).not.toBe(before.pid);
    await cluster.waitHealthy(FAILOVER_TIMEOUT_MS);

    const client = clusterClient();
    await using(client, async () => expect(await client.get(key)).toBe('kept'));

    await cluster.restart(before.port);
    const restarted = direct(before.port);
    await using(restarted, async () => {
      const [role, , primaryPort] = (await restarted.call('ROLE')) as [string, string, number];
      expect(role).toBe('slave');
      expect(primaryPort).toBe(after.port);
    });
    await cluster.waitHealthy(FAILOVER_TIMEOUT_MS);
  });
});

describe('a Redis primary with a replica and three Sentinels on free ports', () => {
  const started = startedFor((workDir) => startRedisSentinels(workDir));
  let setup: RedisSentinels;
  beforeAll(() => (setup = started()));

  test('when the primary is SIGKILLed, then the sentinels report the replica instead, and a client made with them writes to it', async () => {
    const [primaryNode, replicaNode] = setup.dataNodes;
    expect(setup.masterName).toBe('imagegen');
    expect(setup.sentinelList).toBe(setup.sentinels.map(({ port }) => `127.0.0.1:${port}`).join(','));
    expect(await setup.primary()).toEqual(primaryNode);

    const client = new Redis({ sentinels: setup.sentinels, name: setup.masterName, connectTimeout: 1_000 });
    // While the sentinels still name the killed primary, the client reports each failed reconnect.
    client.on('error', () => undefined);
    await using(client, async () => {
      await client.set('topologies:sentinel', 'before');

      const killedAt = Date.now();
      await setup.kill(primaryNode!.port);
      const promoted = await setup.waitForPrimaryChange(primaryNode!.port, FAILOVER_TIMEOUT_MS);
      const failoverMs = Date.now() - killedAt;
      console.log(
        `[redis-topologies] sentinel failover: ${failoverMs} ms from SIGKILL to the sentinels naming the replica`,
      );
      expect(promoted).toEqual(replicaNode);
      expect(await setup.primary()).toEqual(replicaNode);

      await client.set('topologies:sentinel', 'after');
    });
    const node = direct(replicaNode!.port);
    await using(node, async () => {
      expect(await node.get('topologies:sentinel')).toBe('after');
      expect(((await node.call('ROLE')) as unknown[])[0]).toBe('master');
    });
  });
});
