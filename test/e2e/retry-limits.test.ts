import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { MAX_RUNS, type Generation, type GenerationEvent } from '@imagegen/shared';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import { ApiClient, cancel, dataOf, retry, type GenerationAnswer } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { SseClients, type SseClient } from '../support/sse';
import { newUser, startSystem, type System } from '../support/system';

const CAP = 4;
const STREAMS_PER_USER = 5;

type Answer = GenerationAnswer;

/** The user id a token was issued to. */
const userIdOf = (client: ApiClient) =>
  new ObjectId((JSON.parse(Buffer.from(client.token!.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub);

/**
 * The black-box attacks on retries and event streams (docs/reliability.md, "Attacks"), replayed on
 * the spawned API and worker with clients racing each other: a retry costs what a create costs, one
 * generation's runs are bounded, its events stay small whatever it went through, and one user's
 * open streams are capped.
 */
describe('retries and event streams under the per-user limits', () => {
  let system: System;
  let mongo: Mongo;
  let redis: Redis;
  const streams = new SseClients();
  /** Answers every held Hugging Face request: runs stay `processing` until canceled. */
  let releaseHeld = () => undefined as void;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));

  beforeAll(async () => {
    system = await startSystem({
      apiEnv: {
        MAX_IN_FLIGHT_PER_USER: String(CAP),
        CREATE_RATE_LIMIT: '1000',
        EVENTS_STREAMS_PER_USER: String(STREAMS_PER_USER),
        EVENTS_HEARTBEAT_MS: '200',
      },
      // Held answers are not timeouts; enough slots for every generation a test holds.
      workerEnv: { WORKER_CONCURRENCY: '16', HF_TIMEOUT_MS: '120000', HF_MAX_WAIT_MS: '120000' },
    });
    mongo = await connectMongo(system.env.mongoUri);
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    streams.closeAll();
    releaseHeld();
    redis?.disconnect();
    await mongo?.client.close();
    await system?.stop();
  });

  /** The user's generations pending or processing, as their records say. */
  const inFlight = (client: ApiClient) =>
    mongo.db
      .collection(COLLECTIONS.generations)
      .countDocuments({ user_id: userIdOf(client), status: { $in: ['pending', 'processing'] } });

  /** Ends every generation of the user still in flight, so that the next test starts from none. */
  async function cancelAll(client: ApiClient): Promise<void> {
    const page = await client.list('?limit=100');
    await Promise.all(
      page.items.filter((g) => g.status === 'pending' || g.status === 'processing').map((g) => cancel(client, g.id)),
    );
  }

  /** A generation of its own model, whose every run waits at Hugging Face until canceled. */
  async function heldGeneration(client: ApiClient, model: string): Promise<Generation> {
    system.emulator.always(model, hf.pngWhen(held));
    return client.create({ prompt: `held at ${model}`, model });
  }

  /** Cancels the generation's run once it has reached Hugging Face, then retries it: one more run. */
  async function cycle(client: ApiClient, generation: Generation, model: string, run: number): Promise<Answer> {
    await system.emulator.waitForRequests(model, run);
    expect((await cancel(client, generation.id)).status).toBe(200);
    return retry(client, generation.id);
  }

  const eventsOf = (id: string) => redis.xrange(`${system.env.queuePrefix}:generation-events:${id}`, '-', '+');

  const openStream = (client: ApiClient, id: string): Promise<SseClient> =>
    streams.open(`${system.api.url}/api/generations/${id}/events`, { authorization: `Bearer ${client.token}` });

  test('when a user at the cap cancels their generations, creates as many again and retries the canceled ones from several clients at once, then every retry is a 429 and never more than the cap are in flight', async () => {
    const user = await newUser(system, 'capped');
    const clients = Array.from({ length: CAP }, () => new ApiClient(system.api.url, user.token));
    const model = 'test/retry-at-cap';
    system.emulator.always(model, hf.pngWhen(held));
    const first = await Promise.all(clients.map((c, i) => c.create({ prompt: `first ${i}`, model })));
    // Each run has reached Hugging Face before it is canceled. A cancel racing the worker's start is
    // another matter: on FerretDB, whose conditional updates are not atomic, the start can overwrite
    // the cancel (docs/reliability.md), which this test is not about.
    await system.emulator.waitForRequests(model, CAP);
    expect((await Promise.all(first.map((g, i) => cancel(clients[i]!, g.id)))).map((a) => a.status)).toEqual(
      Array(CAP).fill(200),
    );
    const second = await Promise.all(clients.map((c, i) => c.create({ prompt: `second ${i}`, model })));
    expect(await inFlight(user)).toBe(CAP);

    const retried = await Promise.all(first.map((g, i) => retry(clients[i]!, g.id)));
    expect(retried.map((a) => a.status)).toEqual(Array(CAP).fill(429));
    expect(retried[0]!.body).toMatchObject({ success: false, message: expect.stringMatching(/pending or processing/) });
    expect(retried[0]!.headers.get('retry-after')).toBe('5');
    expect(await inFlight(user)).toBe(CAP);
    // A refused retry left the generation as it was.
    for (const g of first) expect(dataOf(await user.get(g.id))).toMatchObject({ status: 'canceled', history: [] });

    // One place frees: of every canceled generation retried at once, exactly one runs again.
    await system.emulator.waitForRequests(model, 2 * CAP);
    expect((await cancel(user, second[0]!.id)).status).toBe(200);
    const racing = await Promise.all([...first, second[0]!].map((g, i) => retry(clients[i % CAP]!, g.id)));
    expect(racing.map((a) => a.status).sort()).toEqual([202, ...Array<number>(CAP).fill(429)]);
    expect(await inFlight(user)).toBe(CAP);
    await cancelAll(user);
  });

  test('when racing clients cancel and retry one generation in a loop, then it runs at most MAX_RUNS times, each run one call to Hugging Face, and every retry after that is a 409', async () => {
    const user = await newUser(system, 'looper');
    const racers = Array.from({ length: 3 }, () => new ApiClient(system.api.url, user.token));
    const model = 'test/retry-loop';
    const generation = await heldGeneration(user, model);

    let runs = 1;
    let refused: Answer[] = [];
    // Past the bound on purpose: the loop must end by the service's refusal, not by its own count.
    for (let cycles = 0; cycles < MAX_RUNS + 5; cycles++) {
      await system.emulator.waitForRequests(model, runs);
      expect((await cancel(user, generation.id)).status).toBe(200);
      const answers = await Promise.all(racers.map((c) => retry(c, generation.id)));
      const accepted = answers.filter((a) => a.status === 202).length;
      // Racing retries of one ended run: one reopens it, the others find it changed.
      expect(answers.filter((a) => a.status !== 202).map((a) => a.status)).toEqual(Array(3 - accepted).fill(409));
      if (accepted === 0) {
        refused = answers;
        break;
      }
      expect(accepted).toBe(1);
      runs++;
    }
    expect(runs).toBe(MAX_RUNS);
    expect(refused[0]!.body).toMatchObject({ success: false, message: expect.stringContaining(`${MAX_RUNS} runs`) });
    const record = dataOf(await user.get(generation.id));
    expect(record.status).toBe('canceled');
    expect(record.history).toHaveLength(MAX_RUNS - 1);
    expect(system.emulator.requestsFor(model)).toHaveLength(MAX_RUNS);
  });

  test('when a generation has been canceled and retried over and over, then none of its events carries its history, each stays small, and a new connection replays only the current run', async () => {
    const user = await newUser(system, 'many-runs');
    const model = 'test/many-runs';
    const generation = await heldGeneration(user, model);
    for (let run = 1; run < MAX_RUNS; run++) expect((await cycle(user, generation, model, run)).status).toBe(202);
    await system.emulator.waitForRequests(model, MAX_RUNS);
    expect(dataOf(await user.get(generation.id))).toMatchObject({ status: 'processing' });

    const entries = await eventsOf(generation.id);
    const sizes = entries.map(([, fields]) => fields.join('').length);
    const statuses = entries
      .map(([, fields]) => JSON.parse(fields[fields.indexOf('event') + 1]!) as GenerationEvent)
      .filter((e) => e.type === 'status');
    expect(statuses.length).toBeGreaterThanOrEqual(MAX_RUNS * 2);
    expect(statuses.filter((e) => 'history' in e.generation)).toEqual([]);
    // However many runs came before: the size of one run's event, not of all of them.
    expect(Math.max(...sizes)).toBeLessThan(2048);

    const stream = await openStream(user, generation.id);
    expect(stream.status).toBe(200);
    await stream.waitFor('two heartbeats after the replay', (c) => {
      const last = c.items.findLastIndex((item) => item.kind === 'event');
      return last >= 0 && c.items.slice(last).filter((item) => item.kind === 'comment').length >= 2;
    });
    const replayed = (stream.data as GenerationEvent[]).flatMap((e) => (e.type === 'status' ? [e.status] : []));
    expect(replayed).toEqual(['pending', 'processing']);
    stream.close();
    await cancelAll(user);
  });

  test('when one user opens many event streams at once, then EVENTS_STREAMS_PER_USER are served and the rest get 429, another user is not affected, and streams whose clients vanish give their places back', async () => {
    const user = await newUser(system, 'streamer');
    const generation = await heldGeneration(user, 'test/streamed');
    const opened = await Promise.all(Array.from({ length: 30 }, () => openStream(user, generation.id)));
    expect(opened.map((s) => s.status).sort()).toEqual([
      ...Array<number>(STREAMS_PER_USER).fill(200),
      ...Array<number>(30 - STREAMS_PER_USER).fill(429),
    ]);
    const served = opened.filter((s) => s.status === 200);
    const refused = opened.filter((s) => s.status !== 200);
    expect(await refused[0]!.body()).toMatchObject({ success: false, message: expect.stringMatching(/streams/) });
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
    await Promise.all(served.map((s) => s.nextEvent()));

    const other = await newUser(system, 'other-streamer');
    const theirs = await openStream(other, (await heldGeneration(other, 'test/streamed-other')).id);
    expect(theirs.status).toBe(200);

    // The clients go away without a word: their places come back.
    for (const s of served) s.close();
    const again = await eventually('the places of the vanished streams to be given back', async () => {
      const batch = await Promise.all(Array.from({ length: STREAMS_PER_USER }, () => openStream(user, generation.id)));
      if (batch.every((s) => s.status === 200)) return batch;
      for (const s of batch) s.close();
      return undefined;
    });
    expect(again).toHaveLength(STREAMS_PER_USER);
    expect((await openStream(user, generation.id)).status).toBe(429);
    for (const s of again) s.close();
    await Promise.all([cancelAll(user), cancelAll(other)]);
  });
});
