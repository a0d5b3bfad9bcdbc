import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { QUEUES, type ApiSuccess, type Generation, type GenerationEvent } from '@imagegen/shared';
import { COLLECTIONS, GenerationEvents, bullmqKeys, toSummary, type GenerationDocument } from '@imagegen/core';
import type { ApiClient } from '../../../test/support/api-client';
import { eventually } from '../../../test/support/lifecycle';
import { SseClients, type SseClient } from '../../../test/support/sse';
import { startHarness, startTestApi, subjectOf, type Harness } from './api-harness';
import type { RunningApi } from '../src/server';

/**
 * The live event stream of a generation, on an in-process API with no worker: the test writes the
 * worker's events itself, through the same `GenerationEvents` on the same Redis and prefix.
 */
let h: Harness;
let redis: Redis;
let events: GenerationEvents;
let user: ApiClient;
const streams = new SseClients();

beforeAll(async () => {
  // The tests leave generations pending (there is no worker), and retry some: limits out of the way.
  h = await startHarness({
    EVENTS_HEARTBEAT_MS: '100',
    EVENTS_QUEUE_PLACE_MS: '100',
    CREATE_RATE_LIMIT: '1000',
    MAX_IN_FLIGHT_PER_USER: '1000',
  });
  redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
  events = new GenerationEvents(redis, h.iso.queuePrefix);
  user = await h.user('streamer@example.com');
});

afterEach(async () => {
  streams.closeAll();
  // Each test starts with no stream open, so that counts mean what they say.
  await until('the closed streams to be cleaned up', () => h.api.openStreams() === 0);
});

afterAll(async () => {
  streams.closeAll();
  redis?.disconnect();
  await h?.stop();
});

let prompts = 0;
const create = () => user.create({ prompt: `a lighthouse at dusk ${++prompts}` });

const open = (id: string, headers: Record<string, string> = {}): Promise<SseClient> =>
  streams.open(`${h.baseUrl}/api/generations/${id}/events`, { authorization: `Bearer ${user.token}`, ...headers });

const eventKey = (id: string) => `${h.iso.queuePrefix}:generation-events:${id}`;

/** The record as a status event carries it, with `status` set as the worker would. */
async function statusEvent(id: string, status: Generation['status']): Promise<GenerationEvent> {
  const reply = await user.get(id);
  const generation = (reply.body as ApiSuccess<Generation>).data;
  return { type: 'status', status, generation: { ...generation, status } };
}

/** Tiny bounded polling, for a count the API keeps with no event to wait on. */
async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('when a pending generation is streamed, then it starts with retry:, its pending event, and heartbeat comments keep coming', async () => {
  const generation = await create();
  const stream = await open(generation.id);
  expect(stream.status).toBe(200);
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect(stream.headers.get('cache-control')).toMatch(/no-cache/);

  const first = await stream.nextEvent();
  expect(first.event).toBe('status');
  expect(first.id).toMatch(/^\d+-\d+$/);
  expect(JSON.parse(first.data)).toMatchObject({
    type: 'status',
    status: 'pending',
    generation: { id: generation.id },
  });
  await stream.waitFor('three heartbeats', (c) => c.comments.filter((t) => t === 'heartbeat').length >= 3);

  expect(stream.items[0]).toEqual({ kind: 'retry', ms: 2000 });
  // Heartbeats are comments only: nothing else was dispatched, and the stream is still open.
  expect(stream.events).toHaveLength(1);
  expect(stream.done).toBe(false);
});

test('when a pending generation waits behind others, then its pending event tells its place, and a queue event (no id) follows each change', async () => {
  const ahead = await create();
  const alsoAhead = await create();
  const behind = await create();
  const place = (await user.get(behind.id)).body as ApiSuccess<Generation>;
  const position = place.data.queue_position!;
  expect(position).toBeGreaterThanOrEqual(3);

  const stream = await open(behind.id);
  const first = await stream.nextEvent();
  expect(JSON.parse(first.data)).toMatchObject({
    type: 'status',
    status: 'pending',
    generation: { id: behind.id, queue_position: position, estimated_start_seconds: null },
  });

  // The job ahead leaves the queue; nothing is written to this generation's own stream.
  expect((await user.request('POST', `/api/generations/${ahead.id}/cancel`)).status).toBe(200);
  const moved = await stream.nextEvent();
  expect(moved.event).toBe('queue');
  expect(moved.id).toBeUndefined();
  expect(JSON.parse(moved.data)).toEqual({
    type: 'queue',
    queue_position: position - 1,
    estimated_start_seconds: null,
  });

  // Once it runs, its place is no longer told, even though (the test being the worker) its job
  // still sits in the queue and moves up again.
  await events.append(behind.id, await statusEvent(behind.id, 'processing'));
  expect(JSON.parse((await stream.nextEvent()).data)).toMatchObject({ type: 'status', status: 'processing' });
  expect((await user.request('POST', `/api/generations/${alsoAhead.id}/cancel`)).status).toBe(200);
  const heartbeats = stream.comments.length;
  await stream.waitFor('three more heartbeats', (c) => c.comments.length >= heartbeats + 3);
  expect(stream.events).toHaveLength(3);
});

test('when a worker has taken the job but not yet said processing, then the place is next, starting now, never none', async () => {
  const generation = await create();
  const stream = await open(generation.id);
  expect(JSON.parse((await stream.nextEvent()).data)).toMatchObject({ type: 'status', status: 'pending' });

  // A real BullMQ worker takes every waiting job, this one among them, and holds them: the moment
  // between its taking a job and its first write, made to last.
  let release = () => undefined as void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const connection = redis.duplicate();
  const worker = new Worker(QUEUES.generations, () => held, {
    connection,
    prefix: h.iso.queuePrefix,
    concurrency: 1_000,
  });
  try {
    await new Promise<void>((resolve) => {
      worker.on('active', (job) => job.id === generation.id && resolve());
    });
    const starting = { queue_position: 1, estimated_start_seconds: 0 };
    // Jobs left waiting by earlier tests are taken too, so the place may move up on the way.
    const places = () =>
      (stream.data as Array<{ type: string; estimated_start_seconds?: number | null }>).filter(
        (d) => d.type === 'queue',
      );
    await stream.waitFor('the place of a taken job', () => places().at(-1)?.estimated_start_seconds === 0, 5_000);
    expect(places().at(-1)).toEqual({ type: 'queue', ...starting });
    expect(places()).not.toContainEqual(expect.objectContaining({ queue_position: null }));
    // A stream opened now replays the pending status with the same place, as does the record.
    const late = await open(generation.id);
    expect(JSON.parse((await late.nextEvent()).data)).toMatchObject({ status: 'pending', generation: starting });
    expect(((await user.get(generation.id)).body as ApiSuccess<Generation>).data).toMatchObject(starting);
  } finally {
    release();
    await worker.close();
    connection.disconnect();
  }
});

test('when the client aborts its stream, then the API closes it and openStreams() returns to 0', async () => {
  expect(h.api.openStreams()).toBe(0);
  const generation = await create();
  const stream = await open(generation.id);
  await stream.nextEvent();
  expect(h.api.openStreams()).toBe(1);

  stream.close();
  await until('the stream count going back to 0', () => h.api.openStreams() === 0);
  expect(h.api.openStreams()).toBe(0);
});

test("when a pending generation's events have expired, then the stream sends one status event (id 0-0) with its current status, then the live ones", async () => {
  const generation = await create();
  expect(await redis.del(eventKey(generation.id))).toBe(1);

  const stream = await open(generation.id);
  const synthetic = await stream.nextEvent();
  expect(synthetic.event).toBe('status');
  // Under the id before any real one, so that a reconnect resumes from the stream's start.
  expect(synthetic.id).toBe('0-0');
  expect(JSON.parse(synthetic.data)).toMatchObject({
    type: 'status',
    status: 'pending',
    generation: { id: generation.id, status: 'pending' },
  });

  // What the worker writes next arrives as it is written, with its id, and no second synthetic event.
  await events.append(generation.id, await statusEvent(generation.id, 'processing'));
  const live = await stream.nextEvent();
  expect(live.id).toMatch(/^\d+-\d+$/);
  expect(JSON.parse(live.data)).toMatchObject({ type: 'status', status: 'processing' });
  expect(stream.events.filter((e) => e.id === '0-0')).toHaveLength(1);
});

test("when an ended generation's events have expired, then the stream sends one status event with its end status and closes", async () => {
  const generation = await create();
  expect((await user.request('POST', `/api/generations/${generation.id}/cancel`)).status).toBe(200);
  expect(await redis.del(eventKey(generation.id))).toBe(1);

  const stream = await open(generation.id);
  await stream.ended();
  expect(stream.events).toHaveLength(1);
  expect(stream.events[0]).toMatchObject({ id: '0-0', event: 'status' });
  expect(stream.data[0]).toMatchObject({ type: 'status', status: 'canceled', generation: { id: generation.id } });
});

test('when Last-Event-ID names an event, then the stream resumes right after it: the rest, in order, none twice', async () => {
  const generation = await create();
  await events.append(generation.id, await statusEvent(generation.id, 'processing'));
  await events.append(generation.id, {
    type: 'notice',
    message: 'Model is loading; retrying in 2 s',
    retry_in_seconds: 2,
  });

  const full = await open(generation.id);
  await full.waitFor('three events', (c) => c.events.length === 3);
  const ids = full.events.map((e) => e.id);
  expect(full.events.map((e) => e.event)).toEqual(['status', 'status', 'notice']);

  const resumed = await open(generation.id, { 'last-event-id': ids[0]! });
  await resumed.waitFor('two events', (c) => c.events.length >= 2);
  expect(resumed.events.map((e) => e.id)).toEqual(ids.slice(1));
  expect(resumed.data).toEqual(full.data.slice(1));

  // Both follow what comes next, and end with the terminal status.
  await events.append(generation.id, await statusEvent(generation.id, 'completed'));
  await Promise.all([full.ended(), resumed.ended()]);
  expect(resumed.events.map((e) => e.id)).toEqual(full.events.map((e) => e.id).slice(1));
  expect(full.data.at(-1)).toMatchObject({ type: 'status', status: 'completed' });
  expect(new Set(full.events.map((e) => e.id)).size).toBe(4);

  const fromSecond = await open(generation.id, { 'last-event-id': ids[1]! });
  await fromSecond.ended();
  expect(fromSecond.events.map((e) => e.id)).toEqual(full.events.map((e) => e.id).slice(2));
});

test('when an EventSource reconnects after the end (Last-Event-ID = the terminal event), then the stream ends at once instead of staying open', async () => {
  const generation = await create();
  await events.append(generation.id, await statusEvent(generation.id, 'failed'));
  const full = await open(generation.id);
  await full.ended();
  const terminal = full.lastEventId;
  expect(full.data.at(-1)).toMatchObject({ status: 'failed' });

  // What a browser does when the server closes an EventSource's stream: it reconnects with the last id.
  // 204 is how SSE tells an EventSource to stop reconnecting: nothing follows the end it has.
  const reconnected = await open(generation.id, { 'last-event-id': terminal! });
  expect(reconnected.status).toBe(204);
});

test('when Last-Event-ID is not a stream id, then the API answers 400 naming the header', async () => {
  const generation = await create();
  await events.append(generation.id, await statusEvent(generation.id, 'completed'));

  const stream = await open(generation.id, { 'last-event-id': 'not-an-id' });
  expect(stream.status).toBe(400);
  expect(await stream.body()).toMatchObject({
    success: false,
    errors: [{ field: 'headers.last-event-id', message: expect.any(String) }],
  });
});

test('when Last-Event-ID is a stream id too large for Redis, then the API answers 400 naming the header, not 500', async () => {
  const generation = await create();
  const largest = '18446744073709551615-18446744073709551615';
  for (const id of ['99999999999999999999999-0', '18446744073709551616-0', '0-18446744073709551616', largest]) {
    const stream = await open(generation.id, { 'last-event-id': id });
    expect({ id, status: stream.status }).toEqual({ id, status: 400 });
    expect(await stream.body()).toMatchObject({
      success: false,
      errors: [{ field: 'headers.last-event-id', message: expect.any(String) }],
    });
  }
  // Nothing can follow the largest id of all; right below it is still an id to resume after.
  const below = await open(generation.id, { 'last-event-id': '18446744073709551615-18446744073709551614' });
  expect(below.status).toBe(200);
});

/**
 * Commands the API sends to Redis, seen through MONITOR, for the keys `keep` picks.
 *
 * Not `redis.monitor()`: ioredis 6 marks a connection as monitoring a promise step after MONITOR's
 * answer, so monitor lines that come in the same read as that answer are taken for replies to no
 * command, each an "error" event ("Command queue state error"), the first of which rejected
 * `monitor()` and the next of which, with no listener left, threw (a CI run failed so). The same
 * happens to lines still arriving after the disconnect. Here the listeners are in place before the
 * connection opens, and those errors are left out: the lines they stand for fall outside what a
 * test counts (before monitoring began, or after it ended).
 */
async function watchRedis(
  keep: (args: string[]) => boolean,
): Promise<{ seen: { at: number; args: string[] }[]; stop(): void }> {
  const monitor = redis.duplicate({ monitor: true, lazyConnect: true });
  const seen: { at: number; args: string[] }[] = [];
  const errors: Error[] = [];
  monitor.on('error', (err: Error) => {
    if (!err.message.startsWith('Command queue state error')) errors.push(err);
  });
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (keep(args)) seen.push({ at: Date.now(), args });
  });
  // Not `events.once`, which would reject on the very errors left out above.
  const monitoring = new Promise<void>((resolve) => monitor.once('monitoring', () => resolve()));
  await monitor.connect();
  await monitoring;
  return {
    seen,
    stop: () => {
      monitor.disconnect();
      if (errors.length) throw errors[0];
    },
  };
}

test('when a generation was retried many times, then its events carry no history, and a new connection replays only the current run, read from Redis in pages', async () => {
  const generation = await create();
  const retries = 12;
  for (let i = 0; i < retries; i++) {
    expect((await user.request('POST', `/api/generations/${generation.id}/cancel`)).status).toBe(200);
    expect((await user.request('POST', `/api/generations/${generation.id}/retry`)).status).toBe(202);
  }
  const entries = await redis.xrange(eventKey(generation.id), '-', '+');
  const stored = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('event') + 1]!) as GenerationEvent);
  expect(stored).toHaveLength(2 * retries + 1);
  expect(stored.filter((e) => e.type === 'status' && 'history' in e.generation)).toEqual([]);

  const key = eventKey(generation.id);
  const reads = await watchRedis((args) => /^x(rev)?range$/i.test(args[0]!) && args[1] === key);
  try {
    const stream = await open(generation.id);
    await stream.waitFor('two heartbeats after the replay', (c) => {
      const last = c.items.findLastIndex((item) => item.kind === 'event');
      return last >= 0 && c.items.slice(last).filter((item) => item.kind === 'comment').length >= 2;
    });
    expect((stream.data as GenerationEvent[]).filter((e) => e.type === 'status')).toEqual([
      expect.objectContaining({
        status: 'pending',
        generation: expect.not.objectContaining({ history: expect.anything() }),
      }),
    ]);
    expect(reads.seen.length).toBeGreaterThan(0);
    // Never the whole stream at once: every read names how many entries it takes.
    expect(reads.seen.filter(({ args }) => !args.some((arg) => /^count$/i.test(arg)))).toEqual([]);
  } finally {
    reads.stop();
  }
});

test('when the current run has more events than one read takes, then a new connection replays all of them, in order, and nothing of the runs before', async () => {
  const generation = await create();
  for (let i = 0; i < 2; i++) {
    expect((await user.request('POST', `/api/generations/${generation.id}/cancel`)).status).toBe(200);
    expect((await user.request('POST', `/api/generations/${generation.id}/retry`)).status).toBe(202);
  }
  // A long cold start: far more notices than the stream reads at a time, forwards or back.
  for (let i = 0; i < 130; i++) {
    await events.append(generation.id, { type: 'notice', message: `loading ${i}`, retry_in_seconds: 1 });
  }

  const stream = await open(generation.id);
  await stream.waitFor('the whole run', (c) => c.events.filter((e) => e.event !== 'queue').length >= 131);
  const replayed = (stream.data as GenerationEvent[]).filter((e) => e.type !== 'queue');
  expect(replayed[0]).toMatchObject({ type: 'status', status: 'pending' });
  expect(replayed.slice(1).map((e) => (e.type === 'notice' ? e.message : e.type))).toEqual(
    Array.from({ length: 130 }, (_, i) => `loading ${i}`),
  );
});

test('when many streams follow pending generations, then the queue is read once per EVENTS_QUEUE_PLACE_MS for all of them, not once per stream', async () => {
  const pending = await Promise.all(Array.from({ length: 12 }, () => create()));
  const opened = await Promise.all(pending.map((g) => open(g.id)));
  await Promise.all(opened.map((s) => s.nextEvent()));

  const { wait } = bullmqKeys({ name: QUEUES.generations, opts: { prefix: h.iso.queuePrefix } });
  const reads = await watchRedis((args) => args[1] === wait);
  try {
    const started = Date.now();
    await until('ten reads of the wait list', () => reads.seen.length >= 10);
    const intervals = (reads.seen.at(-1)!.at - started) / 100;
    // Timers never fire early: at most one read per interval began, plus the one under way.
    expect(reads.seen.length).toBeLessThanOrEqual(Math.floor(intervals) + 2);
  } finally {
    reads.stop();
  }
});

/**
 * A TCP proxy in front of Redis that can hold back what one client sends from the first chunk that
 * matches a pattern until released: a way to put another process's write between two of the API's.
 */
class HoldingProxy {
  private readonly sockets = new Set<Socket>();
  private armed: { pattern: RegExp; held: () => void } | null = null;
  private watched: { pattern: RegExp; seen: () => void }[] = [];
  private releases: (() => void)[] = [];

  private constructor(private readonly server: Server) {}

  static async start(target: URL): Promise<HoldingProxy> {
    const server = createServer();
    const proxy = new HoldingProxy(server);
    server.on('connection', (client) => proxy.pipe(client, target));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Holds the first client chunk matching `pattern` (and what follows it on that connection). */
  holdNext(pattern: RegExp): { held: Promise<void>; release: () => void } {
    let held!: () => void;
    const promise = new Promise<void>((resolve) => (held = resolve));
    this.armed = { pattern, held };
    return { held: promise, release: () => this.releaseAll() };
  }

  /** Resolves once a client chunk matching `pattern` has come, held or passed on upstream. */
  seen(pattern: RegExp): Promise<void> {
    return new Promise((seen) => this.watched.push({ pattern, seen }));
  }

  async close(): Promise<void> {
    this.releaseAll();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private releaseAll(): void {
    this.armed = null;
    for (const release of this.releases.splice(0)) release();
  }

  private pipe(client: Socket, target: URL): void {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    let queue: Buffer[] | null = null;
    client.on('data', (chunk: Buffer) => {
      if (!queue && this.armed?.pattern.test(chunk.toString('latin1'))) {
        queue = [];
        this.armed.held();
        this.armed = null;
        this.releases.push(() => {
          for (const held of queue ?? []) upstream.write(held);
          queue = null;
        });
      }
      if (queue) queue.push(chunk);
      else upstream.write(chunk);
      const text = chunk.toString('latin1');
      for (const watch of this.watched.filter((w) => w.pattern.test(text))) watch.seen();
      this.watched = this.watched.filter((w) => !w.pattern.test(text));
    });
  }
}

describe('the order of pending and processing', () => {
  let proxy: HoldingProxy;
  let racing: Harness;
  let racer: ApiClient;
  let direct: GenerationEvents;
  const raceStreams = new SseClients();

  beforeAll(async () => {
    proxy = await HoldingProxy.start(new URL(h.iso.redisUrl));
    // Its own API, whose Redis traffic goes through the proxy; the test's own connections do not.
    racing = await startHarness({ REDIS_URL: proxy.url, EVENTS_HEARTBEAT_MS: '100' });
    racer = await racing.user('racer@example.com');
    direct = new GenerationEvents(redis, racing.iso.queuePrefix);
  });

  afterAll(async () => {
    raceStreams.closeAll();
    await proxy?.close();
    await racing?.stop();
  });

  /**
   * What the worker's processor does on taking a job (generations.start, then lifecycle.started):
   * the record to `processing`, then its event. False if the record was no longer pending.
   */
  async function takeAndAnnounce(id: string): Promise<boolean> {
    const doc = await racing.db
      .collection<GenerationDocument>(COLLECTIONS.generations)
      .findOneAndUpdate(
        { _id: new ObjectId(id), status: 'pending' },
        { $set: { status: 'processing', started_at: new Date(), updated_at: new Date() }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      );
    if (!doc) return false;
    await direct.append(id, {
      type: 'status',
      status: 'processing',
      generation: toSummary(doc, 'http://localhost:8000'),
    });
    return true;
  }

  test('when a worker takes the job before the API has written the pending event, then the stream still shows pending before processing', async () => {
    // The API's write of its `pending` event (a script on the stream's key) waits at the proxy…
    const hold = proxy.holdNext(/\r\neval(sha)?\r\n[\s\S]*generation-events/i);
    // …its job is sent without waiting for that write's answer (one round trip for both)…
    const jobSent = proxy.seen(/generation\.create/);
    const creating = racer.create({ prompt: 'a lighthouse in a race' });
    await hold.held;
    await jobSent;
    try {
      // …and meanwhile a worker finds any job waiting, takes it and announces `processing`.
      const waiting = await racing.queue.getJobs(['wait']);
      for (const job of waiting) await takeAndAnnounce((job.data as { generationId: string }).generationId);
    } finally {
      hold.release();
    }
    const generation = await creating;

    const stream = await raceStreams.open(`${racing.baseUrl}/api/generations/${generation.id}/events`, {
      authorization: `Bearer ${racer.token}`,
    });
    await stream.waitFor('the first event', (c) => c.events.length >= 1);
    // A client must never see a generation go back from processing to pending.
    const statuses = (stream.data as GenerationEvent[]).map((e) => (e.type === 'status' ? e.status : e.type));
    expect(statuses[0]).toBe('pending');
    if (statuses.includes('processing'))
      expect(statuses.indexOf('processing')).toBeGreaterThan(statuses.indexOf('pending'));
  });

  test('when a worker announces processing while a stream makes up the pending status of a generation whose events expired, then the stream never shows pending after processing', async () => {
    const generation = await racer.create({ prompt: 'a lighthouse in another race' });
    expect(await redis.del(`${racing.iso.queuePrefix}:generation-events:${generation.id}`)).toBe(1);
    // With no events, the stream makes the pending status up from the record, and first reads its
    // place in the queue (LPOS), which waits at the proxy…
    const hold = proxy.holdNext(/\r\nlpos\r\n/i);
    const stream = await raceStreams.open(`${racing.baseUrl}/api/generations/${generation.id}/events`, {
      authorization: `Bearer ${racer.token}`,
    });
    await hold.held;
    try {
      // …while a worker takes the job and announces `processing`, and the stream sends that.
      expect(await takeAndAnnounce(generation.id)).toBe(true);
      await stream.waitFor('the processing status', (c) => c.events.length >= 1);
    } finally {
      hold.release();
    }
    // The place's answer is in well before two more heartbeats (100 ms apart) have come.
    const beats = stream.comments.length;
    await stream.waitFor('two heartbeats', (c) => c.comments.length >= beats + 2);
    const statuses = (stream.data as GenerationEvent[]).map((e) => (e.type === 'status' ? e.status : e.type));
    expect(statuses).toEqual(['processing']);
  });
});

describe('the caps on open streams, per user across API instances and per instance', () => {
  const PER_USER = 3;
  const PER_INSTANCE = 5;
  let capped: Harness;
  let second: { api: RunningApi; baseUrl: string };
  const capStreams = new SseClients();

  beforeAll(async () => {
    const settings = {
      EVENTS_STREAMS_PER_USER: String(PER_USER),
      EVENTS_STREAMS_PER_INSTANCE: String(PER_INSTANCE),
      EVENTS_HEARTBEAT_MS: '100',
    };
    capped = await startHarness(settings);
    second = await startTestApi(capped.iso, settings);
  });

  afterEach(async () => {
    capStreams.closeAll();
    await until('every stream to be closed', () => capped.api.openStreams() + second.api.openStreams() === 0);
  });

  afterAll(async () => {
    capStreams.closeAll();
    await second?.api.stop();
    await capped?.stop();
  });

  const openOn = (baseUrl: string, client: ApiClient, id: string) =>
    capStreams.open(`${baseUrl}/api/generations/${id}/events`, { authorization: `Bearer ${client.token}` });
  const slotsKey = (client: ApiClient) => `${capped.iso.queuePrefix}:event-streams:${subjectOf(client.token!)}`;

  test('when one user opens many streams at once on two API instances, then exactly EVENTS_STREAMS_PER_USER are served, the rest are 429 with Retry-After', async () => {
    const lena = await capped.user('streams-lena@example.com');
    const { id } = await lena.create({ prompt: 'watched from everywhere' });
    const opened = await Promise.all(
      Array.from({ length: 8 }, (_, i) => openOn(i % 2 ? second.baseUrl : capped.baseUrl, lena, id)),
    );
    expect(opened.map((s) => s.status).sort()).toEqual([
      ...Array<number>(PER_USER).fill(200),
      ...Array<number>(5).fill(429),
    ]);
    const refused = opened.find((s) => s.status === 429)!;
    expect(await refused.body()).toMatchObject({ success: false, message: expect.stringMatching(/streams/) });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(capped.api.openStreams() + second.api.openStreams()).toBe(PER_USER);
  });

  test("when the clients of a user's streams vanish, even while their streams are being opened, then every place is given back", async () => {
    const mike = await capped.user('streams-mike@example.com');
    const { id } = await mike.create({ prompt: 'opened and dropped' });
    const redis = new Redis(capped.iso.redisUrl, { maxRetriesPerRequest: null });
    const given = () =>
      eventually('every place to be given back', async () =>
        (await redis.zcard(slotsKey(mike))) === 0 && capped.api.openStreams() + second.api.openStreams() === 0
          ? true
          : undefined,
      );
    try {
      // Dropped at once, many while the API is still reading the generation or counting the stream.
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const controller = new AbortController();
          const url = `${i % 2 ? second.baseUrl : capped.baseUrl}/api/generations/${id}/events`;
          const request = fetch(url, { headers: { authorization: `Bearer ${mike.token}` }, signal: controller.signal });
          setImmediate(() => controller.abort());
          await request.then((res) => res.body?.cancel()).catch(() => undefined);
        }),
      );
      await given();

      const served = await Promise.all(Array.from({ length: PER_USER }, () => openOn(capped.baseUrl, mike, id)));
      expect(served.map((s) => s.status)).toEqual(Array(PER_USER).fill(200));
      await Promise.all(served.map((s) => s.nextEvent()));
      for (const s of served) s.close();
      await given();
      const again = await Promise.all(Array.from({ length: PER_USER }, () => openOn(second.baseUrl, mike, id)));
      expect(again.map((s) => s.status)).toEqual(Array(PER_USER).fill(200));
    } finally {
      redis.disconnect();
    }
  });

  test('when an API instance stopped without giving its places back, then they lapse: the user is not locked out', async () => {
    const nina = await capped.user('streams-nina@example.com');
    const { id } = await nina.create({ prompt: 'after a crash' });
    const redis = new Redis(capped.iso.redisUrl, { maxRetriesPerRequest: null });
    try {
      // What a killed instance leaves: places whose leases it no longer renews, now lapsed.
      const lapsed = Date.now() - 1000;
      for (let i = 0; i < PER_USER; i++) await redis.zadd(slotsKey(nina), lapsed, `gone-instance:${i}`);
      const opened = await Promise.all(Array.from({ length: PER_USER }, () => openOn(capped.baseUrl, nina, id)));
      expect(opened.map((s) => s.status)).toEqual(Array(PER_USER).fill(200));
    } finally {
      redis.disconnect();
    }
  });

  test('when several users open streams at once on one instance, then exactly EVENTS_STREAMS_PER_INSTANCE are served there', async () => {
    const users = await Promise.all(['olga', 'pete', 'quin'].map((n) => capped.user(`streams-${n}@example.com`)));
    const ids = await Promise.all(users.map(async (u) => (await u.create({ prompt: 'one of many' })).id));
    const opened = await Promise.all(
      users.flatMap((u, i) => Array.from({ length: PER_USER }, () => openOn(capped.baseUrl, u, ids[i]!))),
    );
    const statuses = opened.map((s) => s.status).sort();
    expect(statuses).toEqual([
      ...Array<number>(PER_INSTANCE).fill(200),
      ...Array<number>(3 * PER_USER - PER_INSTANCE).fill(429),
    ]);
    expect(capped.api.openStreams()).toBe(PER_INSTANCE);
  });
});
