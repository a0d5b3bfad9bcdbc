import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, type ApiSuccess, type Generation, type GenerationStatus } from '@imagegen/shared';
import { COLLECTIONS, GenerationEvents, connectMongo } from '@imagegen/core';
import { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { exitOf, spawnApi, spawnWorker, type Exit, type SpawnedService } from '../support/services';
import { SseClient } from '../support/sse';
import { newUser, startSystem, type System } from '../support/system';

const SHUTDOWN_TIMEOUT_MS = 10_000;
/** On top of SHUTDOWN_TIMEOUT_MS, for the signal to arrive and the process to be reaped. */
const EXIT_MARGIN_MS = 2_000;
/** How long the load runs before SIGTERM. */
const LOAD_MS = 2_500;
const CLIENTS = 8;
const SSE_CLIENTS = 2;
/**
 * Bounds on each client, so that the load stops by itself whatever happens. A client sends a create
 * about every 250 ms: 24 last well past LOAD_MS, so creates are still being sent when SIGTERM goes
 * (with 12, a loaded machine could send them all before, and no create was in flight across it).
 */
const MAX_CREATES_PER_CLIENT = 24;
const MAX_REQUESTS_PER_CLIENT = 150;
const MODEL = 'test/under-load';
/** Hugging Face's answer time: long enough that jobs are in flight when the worker is told to stop. */
const HF_LATENCY_MS = 500;

/** How one HTTP exchange ended, as the client saw it. */
type Outcome =
  /** A whole answer: status line, headers and the body to its end. */
  | { kind: 'answered'; status: number; body: unknown }
  /** No connection: nothing listened any more. */
  | { kind: 'refused' }
  /** The connection closed or failed before any byte of an answer. */
  | { kind: 'dropped'; code: string; connected: boolean }
  /** The answer began and was cut off. */
  | { kind: 'cut'; code: string; status: number }
  /** No answer within the client's own bound (30 s). */
  | { kind: 'hung' };

interface Exchange {
  client: number;
  method: string;
  path: string;
  /** For creates, the prompt: unique, so the record (if any) can be found in MongoDB. */
  prompt?: string;
  /** Sent before SIGTERM was (in program order, not by a clock). */
  sentBefore: boolean;
  /** Ended (answered or failed) after SIGTERM was sent. */
  endedAfter: boolean;
  outcome: Outcome;
}

interface StreamRecord {
  generationId: string;
  openedBefore: boolean;
  /** Ended (or its open failed) after SIGTERM was sent. */
  endedAfter?: boolean;
  status?: number;
  /** A connection failure of the open (`ECONNREFUSED`, …). */
  openError?: string;
  /** A failure while reading the stream (a reset mid-stream). */
  readError?: string;
  statuses: GenerationStatus[];
}

/**
 * SIGTERM to the API and the worker while clients create, poll and stream. Every request the API
 * took gets a whole answer, both processes stop by themselves within SHUTDOWN_TIMEOUT_MS with exit
 * code 0, and nothing accepted is lost: once a new API and worker start on the same database and
 * queues, every generation that got a 202 completes, once.
 *
 * Each request goes on a connection of its own (`Connection: close`, no agent), so that what the
 * client sees is about that request alone: a keep-alive connection that the stopping server
 * closes while idle would race the client's next request on it, which is HTTP/1.1's own hazard
 * (clients retry idempotent requests on it), not the service's.
 */
describe('SIGTERM during load', () => {
  let system: System;
  let apiEnv: Record<string, string>;
  const restarted: SpawnedService[] = [];

  beforeAll(async () => {
    apiEnv = {
      // One secret for both API processes, so the clients' tokens still work after the restart.
      JWT_SECRET: randomBytes(32).toString('hex'),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      CREATE_RATE_LIMIT: '100000',
      MAX_IN_FLIGHT_PER_USER: '10000',
      LOG_LEVEL: 'info',
    };
    system = await startSystem({
      apiEnv,
      workerEnv: {
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        WORKER_CONCURRENCY: '4',
        // Never cut or give up on a slow answer: the only reason a job stops here is the shutdown.
        HF_TIMEOUT_MS: '60000',
        HF_MAX_WAIT_MS: '60000',
        LOG_LEVEL: 'info',
      },
    });
    system.emulator.always(MODEL, hf.png(HF_LATENCY_MS));
  });

  afterAll(async () => {
    await Promise.all(restarted.map((s) => s.stop()));
    await system?.stop();
  });

  test('when the API and the worker get SIGTERM while clients create, poll and stream, then every accepted request is answered, both exit 0 within SHUTDOWN_TIMEOUT_MS, and every 202 completes exactly once after a restart', async () => {
    const { api, worker } = system;
    const tokens = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => (await newUser(system, `sigterm-${i}`)).token!),
    );
    const run = randomBytes(3).toString('hex');

    const exchanges: Exchange[] = [];
    const streams: StreamRecord[] = [];
    /** Ids of generations that got a 202, in order, with the client (token) that owns each. */
    const accepted: Array<{ id: string; client: number }> = [];
    /**
     * Every status of each generation seen by its owner's polls (one client polls it, one poll at a
     * time, so in order) and by each stream of it (a stream replays the generation's past first).
     * Each of these timelines is checked on its own: they are not in order with one another.
     */
    const timelines = new Map<string, { id: string; source: string; statuses: GenerationStatus[] }>();
    const see = (id: string, source: string, status: GenerationStatus) => {
      const key = `${id} ${source}`;
      const timeline = timelines.get(key) ?? { id, source, statuses: [] };
      timeline.statuses.push(status);
      timelines.set(key, timeline);
    };
    let stopLoad = false;
    let sigtermSent = false;

    /** Requests sent and not yet answered, creates among them: SIGTERM goes while some are. */
    const inFlight = { all: 0, creates: 0 };
    const httpCall = async (client: number, method: string, path: string, body?: object, prompt?: string) => {
      const sentBefore = !sigtermSent;
      inFlight.all++;
      if (prompt) inFlight.creates++;
      const outcome = await exchange(api.url, method, path, tokens[client]!, body);
      inFlight.all--;
      if (prompt) inFlight.creates--;
      const entry: Exchange = {
        client,
        method,
        path,
        sentBefore,
        endedAfter: sigtermSent,
        outcome,
        ...(prompt && { prompt }),
      };
      exchanges.push(entry);
      return entry;
    };

    const creator = async (client: number) => {
      let creates = 0;
      let requests = 0;
      const mine: string[] = [];
      while (!stopLoad && requests < MAX_REQUESTS_PER_CLIENT) {
        if (creates < MAX_CREATES_PER_CLIENT) {
          const prompt = `sigterm ${run} client ${client} create ${++creates}`;
          const created = await httpCall(
            client,
            'POST',
            '/api/generations',
            { prompt, model: MODEL, width: 256, height: 256 },
            prompt,
          );
          requests++;
          const { outcome } = created;
          if (outcome.kind === 'answered' && outcome.status === 202) {
            const { id, status } = (outcome.body as ApiSuccess<Generation>).data;
            accepted.push({ id, client });
            mine.push(id);
            see(id, 'polls', status);
          }
        }
        // A few polls, of this client's newest generation and of an older one of its own.
        for (let i = 0; i < 3 && !stopLoad; i++) {
          await sleep(60);
          const id = i === 2 ? mine[Math.floor(Math.random() * mine.length)] : mine.at(-1);
          if (!id) continue;
          const polled = await httpCall(client, 'GET', `/api/generations/${id}`);
          requests++;
          if (polled.outcome.kind === 'answered' && polled.outcome.status === 200)
            see(id, 'polls', (polled.outcome.body as ApiSuccess<Generation>).data.status);
        }
        await sleep(60);
      }
    };

    const streamed = new Set<string>();
    const streamer = async () => {
      let opens = 0;
      while (!stopLoad && opens < 20) {
        const next = [...accepted].reverse().find((a) => !streamed.has(a.id));
        if (!next) {
          await sleep(50);
          continue;
        }
        streamed.add(next.id);
        opens++;
        const record: StreamRecord = { generationId: next.id, openedBefore: !sigtermSent, statuses: [] };
        streams.push(record);
        const source = `stream ${streams.length}`;
        try {
          const client = await SseClient.open(`${api.url}/api/generations/${next.id}/events`, {
            authorization: `Bearer ${tokens[next.client]!}`,
            // A connection of its own, as for the other requests.
            connection: 'close',
          });
          record.status = client.status;
          if (client.status === 200) {
            await client.ended(30_000).catch((err: unknown) => (record.readError = (err as Error).message));
            for (const event of client.events) {
              if (event.event !== 'status') continue;
              const { status } = JSON.parse(event.data) as { status: GenerationStatus };
              record.statuses.push(status);
              see(next.id, source, status);
            }
          }
          client.close();
        } catch (err) {
          record.openError = connectionCode(err);
        }
        record.endedAfter = sigtermSent;
        // The API no longer takes connections: opening more streams would only fail again.
        if (record.openError === 'ECONNREFUSED' || record.openError === 'ECONNRESET') return;
      }
    };

    // Load, then SIGTERM to both while it goes on; it stops once both processes have exited.
    const load = Promise.all([
      ...Array.from({ length: CLIENTS }, (_, i) => creator(i)),
      ...Array.from({ length: SSE_CLIENTS }, () => streamer()),
    ]);
    await sleep(LOAD_MS);
    // At a moment when creates are on their way (bounded: the load goes on regardless).
    for (let tries = 0; tries < 2_000 && !(inFlight.creates >= 1 && inFlight.all >= 3); tries++) await sleep(1);
    const apiExit = timedExit(api);
    const workerExit = timedExit(worker);
    const sigtermAt = Date.now();
    sigtermSent = true;
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    const [apiExited, workerExited] = await Promise.all([apiExit, workerExit]);
    stopLoad = true;
    await load;

    const before = exchanges.filter((e) => e.sentBefore);
    const after = exchanges.filter((e) => !e.sentBefore);
    const refused = after.filter((e) => e.outcome.kind === 'refused');
    const dropped = after.filter((e) => e.outcome.kind === 'dropped');
    // What the load did, for whoever reads a failure below.
    const count = (list: Exchange[], kind: Outcome['kind']) => list.filter((e) => e.outcome.kind === kind).length;
    process.stdout.write(
      `[sigterm load] ${exchanges.length} requests (${before.length} before SIGTERM, ` +
        `${before.filter((e) => e.endedAfter).length} of them answered after it; ${after.length} after: ` +
        `${count(after, 'answered')} answered, ${refused.length} refused, ${dropped.length} dropped unanswered), ` +
        `${accepted.length} creates accepted, ${streams.length} streams; api exited after ${apiExited.at - sigtermAt} ms, ` +
        `worker after ${workerExited.at - sigtermAt} ms\n`,
    );

    // Both stopped by themselves, in time and cleanly (a stop past SHUTDOWN_TIMEOUT_MS exits 1).
    expect({ api: apiExited.exit, worker: workerExited.exit }).toEqual({
      api: { code: 0, signal: null },
      worker: { code: 0, signal: null },
    });
    expect(apiExited.at - sigtermAt).toBeLessThanOrEqual(SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS);
    expect(workerExited.at - sigtermAt).toBeLessThanOrEqual(SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS);
    expect(api.output()).not.toContain('shutdown took too long');
    expect(worker.output()).not.toContain('shutdown took too long');

    // The load really overlapped the shutdown: requests, creates among them, and streams were in
    // flight across it (sent before, ended after), and their answers are checked below with the rest.
    const across = before.filter((e) => e.endedAfter);
    expect(accepted.length).toBeGreaterThanOrEqual(CLIENTS);
    expect(across.length).toBeGreaterThan(0);
    expect(across.some((e) => e.prompt !== undefined)).toBe(true);
    expect(streams.some((s) => s.status === 200 && s.openedBefore && s.endedAfter)).toBe(true);

    // Every request sent before SIGTERM got a whole answer: 202/200, or a clean 503 with the envelope.
    const isCleanAnswer = (o: Outcome) =>
      o.kind === 'answered' &&
      (o.status === 200 || o.status === 202 || (o.status === 503 && isFailureEnvelope(o.body)));
    const explain = (e: Exchange) => ({
      method: e.method,
      path: e.path,
      outcome: e.outcome,
    });
    expect(before.filter((e) => !isCleanAnswer(e.outcome)).map(explain)).toEqual([]);
    // After it: answered cleanly too, or never taken in: refused, or dropped before any byte of an
    // answer (the kernel had completed the handshake, but the stopping API closed its listener, or
    // the not-yet-read connection as idle, before reading the request: no handler ran, and for
    // creates that is checked below, no record carries the prompt). Never cut off mid-answer or hung.
    expect(
      after
        .filter((e) => !isCleanAnswer(e.outcome) && e.outcome.kind !== 'refused' && e.outcome.kind !== 'dropped')
        .map(explain),
    ).toEqual([]);
    // Streams: each one opened ended cleanly (the API ends them as it stops). An open that failed came
    // after SIGTERM and, as for the requests above, was never taken in: refused, or reset before any
    // byte of an answer (a connection the kernel completed but the stopping API never read).
    expect(streams.filter((s) => s.readError !== undefined)).toEqual([]);
    expect(streams.filter((s) => s.status !== undefined && s.status !== 200 && s.status !== 204)).toEqual([]);
    expect(
      streams.filter(
        (s) => s.openError !== undefined && (s.openedBefore || !['ECONNREFUSED', 'ECONNRESET'].includes(s.openError)),
      ),
    ).toEqual([]);

    // The worker finished or handed back its running jobs: none is left processing or active.
    const mongo = await connectMongo(system.env.mongoUri);
    const redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUES.generations, { connection: redis, prefix: system.env.queuePrefix });
    try {
      const generations = mongo.db.collection(COLLECTIONS.generations);
      expect(await generations.countDocuments({ status: 'processing' })).toBe(0);
      expect(await queue.getActiveCount()).toBe(0);

      // A create cut off by the shutdown never reached the API's handler: no record carries its prompt.
      const lostCreates = [...dropped, ...refused].filter((e) => e.prompt !== undefined);
      const recordsOfLost = await generations.countDocuments({ prompt: { $in: lostCreates.map((e) => e.prompt!) } });
      expect(recordsOfLost).toBe(0);
      // One record per 202, and no other.
      const ids = accepted.map((a) => a.id);
      expect(new Set(ids).size).toBe(ids.length);
      const stored = await generations.find({}, { projection: { _id: 1 } }).toArray();
      expect(stored.map((d) => String(d._id)).sort()).toEqual([...ids].sort());

      // A new API and worker on the same database and queues finish what is left.
      const api2 = await spawnApi({ ...system.env.env, ...apiEnv });
      restarted.push(api2);
      restarted.push(await spawnWorker(system.workerEnv));
      const clients = tokens.map((token) => new ApiClient(api2.url, token));
      for (const { id, client } of accepted) {
        const done = await clients[client]!.waitFor(id, ['completed', 'failed', 'canceled'], 60_000);
        see(id, 'polls', done.status);
        expect({ id, status: done.status, error: done.error }).toEqual({ id, status: 'completed', error: null });
      }

      // Exactly one image per generation, under its id, and no other.
      const images = await mongo.db
        .collection(COLLECTIONS.images)
        .find({}, { projection: { _id: 1 } })
        .toArray();
      expect(images.map((d) => String(d._id)).sort()).toEqual([...ids].sort());
      expect(await generations.countDocuments({ status: 'completed' })).toBe(ids.length);
      expect(await generations.countDocuments({})).toBe(ids.length);

      // Completed once: after its first `completed`, a generation's event stream (what every
      // stream and webhook is made from) has only `completed` again, of that one completion; and
      // no poll or stream ever saw it go back from `completed`.
      const events = new GenerationEvents(redis, system.env.queuePrefix);
      const backwards: unknown[] = [];
      const afterCompleted = <T>(list: T[], isCompleted: (item: T) => boolean) => {
        const first = list.findIndex(isCompleted);
        return first === -1 ? [] : list.slice(first);
      };
      for (const id of ids) {
        const statuses = (await events.after(id)).flatMap(({ event }) =>
          event.type === 'status' ? [{ status: event.status, completedAt: event.generation.completed_at }] : [],
        );
        const tail = afterCompleted(statuses, (s) => s.status === 'completed');
        if (!tail.length || tail.some((s) => s.status !== 'completed' || s.completedAt !== tail[0]!.completedAt))
          backwards.push({ id, events: statuses });
      }
      for (const timeline of timelines.values()) {
        if (afterCompleted(timeline.statuses, (s) => s === 'completed').some((s) => s !== 'completed'))
          backwards.push(timeline);
      }
      expect(backwards).toEqual([]);
    } finally {
      await queue.close();
      redis.disconnect();
      await mongo.client.close();
    }
  }, 120_000);
});

function isFailureEnvelope(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { success?: unknown }).success === false &&
    typeof (body as { message?: unknown }).message === 'string'
  );
}

/** The process's exit and when it came; SIGKILL past the shutdown bound and margin, so a hang fails the test, not the run. */
async function timedExit(service: SpawnedService): Promise<{ exit: Exit; at: number }> {
  const killer = setTimeout(() => service.child.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS + 10_000);
  try {
    const exit = await exitOf(service.child);
    return { exit, at: Date.now() };
  } finally {
    clearTimeout(killer);
  }
}

/** The system error code of a failed connection (fetch wraps it in `cause`). */
function connectionCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err as { code?: string }).code ?? (err as Error).message;
}

/** One request on a connection of its own, with how it ended as the client saw it. */
function exchange(baseUrl: string, method: string, path: string, token: string, body?: object): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let connected = false;
    let status: number | undefined;
    const req = request(`${baseUrl}${path}`, {
      method,
      agent: false,
      headers: {
        connection: 'close',
        authorization: `Bearer ${token}`,
        ...(payload !== undefined && {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
        }),
      },
    });
    req.setTimeout(30_000, () => {
      settle({ kind: 'hung' });
      req.destroy();
    });
    req.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => undefined);
      res.on('close', () => {
        if (!res.complete) {
          settle({ kind: 'cut', code: 'incomplete body', status: status! });
          return;
        }
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: kept as text, which no check below accepts as an envelope.
        }
        settle({ kind: 'answered', status: status!, body: parsed });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      if (status !== undefined) settle({ kind: 'cut', code, status });
      else if (code === 'ECONNREFUSED') settle({ kind: 'refused' });
      else settle({ kind: 'dropped', code, connected });
    });
    req.end(payload);
  });
}
