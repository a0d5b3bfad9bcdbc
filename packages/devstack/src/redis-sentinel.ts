import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './processes';
import {
  addressList,
  atLeast,
  DATA_NODE,
  fields,
  freePorts,
  HOST,
  nodeGroup,
  replicaInSync,
  withNode,
  writeConf,
  type NodeSpec,
  type RedisAddress,
  type RedisTopology,
} from './redis-nodes';

/**
 * A Redis primary, its replica and three Sentinels watching them, for the tests of sentinel mode.
 * After a `restart`, the sentinels turn a former primary into a replica in their own time.
 */
export interface RedisSentinels extends RedisTopology {
  sentinels: RedisAddress[];
  /** `127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3`, as REDIS_SENTINELS takes it. */
  sentinelList: string;
  masterName: string;
  /** The data nodes: the first primary, then its replica. */
  dataNodes: RedisAddress[];
  /** The primary all live sentinels report; throws while they disagree. */
  primary(): Promise<RedisAddress>;
  /** Resolves with the new primary once all live sentinels report one other than `previousPort`. */
  waitForPrimaryChange(previousPort: number, timeoutMs?: number): Promise<RedisAddress>;
}

export interface RedisSentinelOptions {
  masterName?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

const SENTINELS = 3;
const QUORUM = 2;
const READY_TIMEOUT_MS = 30_000;

export async function startRedisSentinels(
  workDir: string,
  options: RedisSentinelOptions = {},
): Promise<RedisSentinels> {
  const masterName = options.masterName ?? 'imagegen';
  if (!/^[\w.-]+$/.test(masterName)) {
    throw new Error(
      `startRedisSentinels: masterName must be letters, digits, '.', '_' or '-', not ${JSON.stringify(masterName)}`,
    );
  }
  const downAfterMs = atLeast('startRedisSentinels', 'downAfterMs', options.downAfterMs ?? 1_000, 100);
  const failoverTimeoutMs = atLeast(
    'startRedisSentinels',
    'failoverTimeoutMs',
    options.failoverTimeoutMs ?? 3_000,
    1_000,
  );

  const dir = mkdtempSync(join(workDir, 'redis-sentinel-'));
  const ports = await freePorts(2 + SENTINELS);
  const [primaryPort, replicaPort] = ports as [number, number];
  const sentinelPorts = ports.slice(2);
  const dataConf = (port: number, extra: string[]) =>
    writeConf(join(dir, `node-${port}`), port, [...DATA_NODE, ...extra]);
  // Each its own file: a sentinel rewrites its config with what it learns.
  const sentinelConf = (port: number) =>
    writeConf(join(dir, `sentinel-${port}`), port, [
      `sentinel monitor ${masterName} ${HOST} ${primaryPort} ${QUORUM}`,
      `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
      `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
    ]);
  const spec = (port: number, what: string, conf: string, sentinel = false): [number, NodeSpec] => [
    port,
    { what: `${what} on port ${port}`, conf, sentinel },
  ];
  const group = nodeGroup(
    dir,
    new Map([
      spec(primaryPort, 'the Redis node', dataConf(primaryPort, [])),
      spec(replicaPort, 'the Redis node', dataConf(replicaPort, [`replicaof ${HOST} ${primaryPort}`])),
      ...sentinelPorts.map((port) => spec(port, 'the sentinel', sentinelConf(port), true)),
    ]),
  );
  const liveSentinels = () => group.live().filter((port) => sentinelPorts.includes(port));

  try {
    await group.start([primaryPort]);
    await group.start([replicaPort]);
    await waitFor(`the replica on port ${replicaPort} to sync`, () => replicaInSync(replicaPort), READY_TIMEOUT_MS);
    await group.start(sentinelPorts);
    await waitFor(
      `the sentinels on ports ${sentinelPorts.join(',')} to know ${masterName}, its replica and each other`,
      () => Promise.all(sentinelPorts.map((port) => watching(port, masterName))),
      READY_TIMEOUT_MS,
    );
  } catch (err) {
    await group.stop();
    throw err;
  }

  const sentinels = sentinelPorts.map((port) => ({ host: HOST, port }));
  const primary = () => reportedPrimary(liveSentinels(), masterName);
  return {
    sentinels,
    sentinelList: addressList(sentinels),
    masterName,
    dataNodes: [primaryPort, replicaPort].map((port) => ({ host: HOST, port })),
    description: `Redis ${masterName} on ports ${primaryPort} (primary) and ${replicaPort} (replica), watched by sentinels on ports ${sentinelPorts.join(', ')}`,
    primary,
    kill: (port, signal = 'SIGKILL') => group.kill(port, signal),
    restart: group.restart,
    waitForPrimaryChange: async (previousPort, timeoutMs = READY_TIMEOUT_MS) => {
      let current: RedisAddress | undefined;
      await waitFor(
        `the sentinels to report a primary other than port ${previousPort}`,
        async () => {
          const reported = await primary();
          if (reported.port === previousPort) throw new Error(`they still report port ${previousPort}`);
          const [role] = await withNode(reported.port, (client) => client.call('ROLE') as Promise<unknown[]>);
          if (role !== 'master') throw new Error(`they report port ${reported.port}, which is still a ${role}`);
          current = reported;
        },
        timeoutMs,
      );
      return current!;
    },
    stop: group.stop,
  };
}

/** A sentinel is ready once it sees the primary up, its replica linked, and the two other sentinels. */
async function watching(port: number, masterName: string): Promise<void> {
  const [master, replicas] = await withNode(port, (client) =>
    Promise.all([
      client.call('SENTINEL', 'MASTER', masterName),
      client.call('SENTINEL', 'REPLICAS', masterName) as Promise<unknown[]>,
    ]),
  );
  const { flags, 'num-other-sentinels': others } = fields(master);
  if (flags !== 'master') throw new Error(`sentinel ${port} flags ${masterName} ${String(flags)}`);
  if (Number(others) !== SENTINELS - 1) throw new Error(`sentinel ${port} knows ${String(others)} other sentinels`);
  const linked = replicas
    .map(fields)
    .filter((replica) => replica.flags === 'slave' && replica['master-link-status'] === 'ok');
  if (linked.length === 0) throw new Error(`sentinel ${port} knows no replica of ${masterName} in sync`);
}

async function reportedPrimary(sentinelPorts: number[], masterName: string): Promise<RedisAddress> {
  const answers = await Promise.all(
    sentinelPorts.map((port) =>
      withNode(
        port,
        (client) => client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName) as Promise<string[] | null>,
      ),
    ),
  );
  const distinct = [...new Set(answers.map((answer) => (answer ? answer.join(':') : 'none')))];
  if (distinct.length !== 1 || distinct[0] === 'none') {
    throw new Error(
      `the sentinels on ports ${sentinelPorts.join(',')} report ${distinct.join(' and ')} for ${masterName}`,
    );
  }
  const [host, port] = answers[0]!;
  return { host: host!, port: Number(port) };
}
