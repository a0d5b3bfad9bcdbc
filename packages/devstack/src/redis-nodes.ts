import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startDaemon, stopChild } from './processes';

export const HOST = '127.0.0.1';

export interface RedisAddress {
  host: string;
  port: number;
}

/** What each of our topologies offers: fault injection on its processes by port, and an end. */
export interface RedisTopology {
  description: string;
  /** Sends `signal` (SIGKILL if none) to the process on `port` and waits until it has exited. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed process again from its own config and data dir. */
  restart(port: number): Promise<void>;
  /** Ends every process and removes the topology's files. */
  stop(): Promise<void>;
}

/** `127.0.0.1:p1,127.0.0.1:p2,…`, the form REDIS_CLUSTER_NODES and REDIS_SENTINELS take. */
export const addressList = (addresses: RedisAddress[]): string =>
  addresses.map(({ host, port }) => `${host}:${port}`).join(',');

/** `count` distinct free ports: the OS may hand the same one out twice once it is closed again. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Our redis-servers must not outlive the process that started them, however it ends. On Linux each
 * is started under `setpriv --pdeathsig KILL`, so the kernel kills it when its parent dies: that
 * covers a parent killed outright, and Jest, whose test files get a copy of `process` whose `exit`
 * never fires. Elsewhere the `exit` hook covers a plain Node process that ends normally.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
const pdeathsig =
  process.platform === 'linux' &&
  (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, 'setpriv')));

/** Runs `use` on a connection of its own to 127.0.0.1:`port` that fails at once rather than retrying. */
export async function withNode<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** Resolves if the node on `port` is a replica whose link to its primary is up; else throws what it is. */
export async function replicaInSync(port: number): Promise<void> {
  const [role, , , state] = await withNode(port, (client) => client.call('ROLE') as Promise<unknown[]>);
  if (role !== 'slave' || state !== 'connected') throw new Error(`port ${port} is a ${role} in state ${state}`);
}

/**
 * Settings of a node that holds data: nothing kept on disk, and a full sync to a replica at once
 * rather than after the 5 s Redis waits by default for more replicas to share it.
 */
export const DATA_NODE = ['appendonly no', 'save ""', 'repl-diskless-sync-delay 0'];

/**
 * Writes `<dir>/redis.conf` (creating `dir`) for a node on 127.0.0.1:`port` whose files go in `dir`;
 * the node may rewrite it, as sentinels and reconfigured replicas do.
 */
export function writeConf(dir: string, port: number, lines: string[]): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'redis.conf');
  const head = [`port ${port}`, `bind ${HOST}`, `dir ${JSON.stringify(dir)}`];
  writeFileSync(path, `${[...head, ...lines].join('\n')}\n`);
  return path;
}

/** Starts `redis-server <confPath>` (with `--sentinel`, a sentinel) and waits until it answers PING. */
async function startNode({ what, conf, sentinel = false }: NodeSpec, port: number): Promise<ChildProcess> {
  const args = [conf, ...(sentinel ? ['--sentinel'] : [])];
  const [command, commandArgs] = pdeathsig
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', 'redis-server', ...args]]
    : ['redis-server', args];
  const child = await startDaemon(
    what,
    command,
    commandArgs,
    join(conf, '..', 'server.log'),
    () => withNode(port, (client) => client.ping()),
    15_000,
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

const isRunning = (child: ChildProcess | undefined): child is ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null;

/** Sends `signal` and waits (boundedly) for the process to end: these are kills, not pauses. */
function killNode(child: ChildProcess, signal: NodeJS.Signals, what: string, timeoutMs = 10_000): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} did not exit within ${timeoutMs} ms of ${signal}`)),
      timeoutMs,
    );
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export interface NodeSpec {
  /** What the process is, for errors: "the sentinel on port 1234". */
  what: string;
  /** Its config file, kept across restarts. */
  conf: string;
  sentinel?: boolean;
}

/** The processes of one topology by port; `stop` ends them all and removes `dir`, which holds their files. */
export interface NodeGroup {
  /** Starts these nodes side by side; rejects, once all have settled, if any failed. */
  start(ports: number[]): Promise<void>;
  /** The ports whose process runs now, in the order the specs were given. */
  live(): number[];
  pid(port: number): number;
  kill(port: number, signal: NodeJS.Signals): Promise<void>;
  /** Starts a killed node again from its config. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

export function nodeGroup(dir: string, specs: Map<number, NodeSpec>): NodeGroup {
  const children = new Map<number, ChildProcess>();
  const specOn = (port: number): NodeSpec => {
    const spec = specs.get(port);
    if (!spec) throw new Error(`nothing of ours listens on port ${port} (ours: ${[...specs.keys()].join(', ')})`);
    return spec;
  };
  const start = async (port: number) => void children.set(port, await startNode(specOn(port), port));
  return {
    start: async (ports) => {
      const failed = (await Promise.allSettled(ports.map(start))).find((outcome) => outcome.status === 'rejected');
      if (failed) throw failed.reason;
    },
    live: () => [...specs.keys()].filter((port) => isRunning(children.get(port))),
    pid: (port) => {
      const pid = children.get(port)?.pid;
      if (pid === undefined) throw new Error(`${specOn(port).what} was never started`);
      return pid;
    },
    kill: async (port, signal) => {
      const { what } = specOn(port);
      const child = children.get(port);
      if (child) await killNode(child, signal, what);
    },
    restart: async (port) => {
      if (isRunning(children.get(port))) throw new Error(`${specOn(port).what} still runs: kill it first`);
      await start(port);
    },
    stop: async () => {
      await Promise.all([...children.values()].map((child) => stopChild(child)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Turns a flat `[key, value, key, value, …]` reply (SENTINEL MASTER, CLUSTER SHARDS) into a record. */
export function fields(reply: unknown): Record<string, unknown> {
  const list = reply as unknown[];
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < list.length; i += 2) record[String(list[i])] = list[i + 1];
  return record;
}

/** `value` of option `name` of `starter`, which must be a whole number of at least `min`. */
export function atLeast(starter: string, name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${starter}: ${name} must be a whole number of at least ${min}, not ${value}`);
  }
  return value;
}
