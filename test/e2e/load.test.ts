import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { ObjectId } from 'mongodb';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import type { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { SseClient } from '../support/sse';
import { newUser, startSystem, type System } from '../support/system';

/**
 * A bounded load run on 127.0.0.1: creates and polls from autocannon and SSE streams from a few
 * clients, all at once, while the worker runs at full concurrency against the HF emulator. CI runs
 * it for LOAD_SECONDS=8; `pnpm load` for 90 s, whose figures are in docs/reliability.md. It checks
 * outcomes only (no 5xx, nothing lost or doubled, memory flat on the long run), never speed.
 */
const SECONDS = Number(process.env.LOAD_SECONDS ?? 8);
/**
 * Memory is judged only on a run long enough for V8 to have sized its heap: RSS climbs for the first
 * tens of seconds as the heap's spaces grow to the load, then levels off. So the first half of the
 * run is warm-up, and the second half must stay flat.
 */
const JUDGE_MEMORY = SECONDS >= 30;
const WARM_UP_MS = (SECONDS * 1_000) / 2;
const CREATES_PER_SECOND = 10;
const CREATE_CONNECTIONS = 4;
const POLLS_PER_SECOND = 50;
/** Enough that a poll's latency on a loaded machine (p99 under 0.5 s here) does not cap what is offered. */
const POLL_CONNECTIONS = 16;
const STREAM_CLIENTS = 4;
const USERS = 8;
const HF_LATENCY_MS = 100;
const MODEL = 'test/load';
/**
 * A request unanswered this long counts as an error: autocannon's default, 50 times the p99 of a
 * run on FerretDB-PostgreSQL on a 2-core machine shared with other work (docs/reliability.md).
 */
const REQUEST_TIMEOUT_S = 10;
/** A stream of a generation still pending ends when the generation does, within a second here. */
const STREAM_END_MS = 15_000;
const REPORT = resolve(__dirname, '../../test-artifacts/load.json');

interface Owned {
  id: string;
  user: number;
}

interface Tally {
  byStatus: Record<string, number>;
  errors: number;
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
}

function count(tally: Tally, status: number): void {
  tally.byStatus[status] = (tally.byStatus[status] ?? 0) + 1;
}

const served = (result: autocannon.Result) => ({
  rps: result.requests.average,
  p50_ms: result.latency.p50,
  p99_ms: result.latency.p99,
  max_ms: result.latency.max,
});

const fivexx = (tally: Tally) =>
  Object.entries(tally.byStatus)
    .filter(([status]) => Number(status) >= 500)
    .reduce((sum, [, n]) => sum + n, 0);

describe(`a bounded load run (${SECONDS} s)`, () => {
  let system: System;
  let mongo: Mongo;
  const users: ApiClient[] = [];

  beforeAll(async () => {
    system = await startSystem({
      // Limits out of the way: this run measures the services, not the per-user limits.
      apiEnv: { CREATE_RATE_LIMIT: '100000', MAX_IN_FLIGHT_PER_USER: '10000' },
      workerEnv: { WORKER_CONCURRENCY: '16' },
    });
    system.emulator.always(MODEL, hf.png(HF_LATENCY_MS));
    mongo = await connectMongo(system.env.mongoUri);
    for (let i = 0; i < USERS; i++) users.push(await newUser(system, 'load'));
  });

  afterAll(async () => {
    await mongo?.client.close();
    await system?.stop();
  });

  test(
    'when creates, polls and streams run together, then nothing answers 5xx, nothing is lost or doubled, and memory stays flat',
    async () => {
      const accepted: Owned[] = [];
      for (const [user, client] of users.entries()) {
        accepted.push({ id: (await client.create({ prompt: `load seed ${user}`, model: MODEL })).id, user });
      }
      const creates: Tally = { byStatus: {}, errors: 0 };
      const polls: Tally = { byStatus: {}, errors: 0 };
      const streams: Tally = { byStatus: {}, errors: 0 };
      const bearer = (user: number) => `Bearer ${users[user]!.token}`;
      const pick = () => accepted[Math.floor(Math.random() * accepted.length)]!;
      let prompts = 0;

      const pids = { api: system.api.child.pid, worker: system.worker.child.pid };
      const rss = { api: [] as number[], worker: [] as number[] };
      const sampler = setInterval(() => {
        rss.api.push(rssMb(pids.api));
        rss.worker.push(rssMb(pids.worker));
      }, 1_000);
      const started = Date.now();
      let atWarmUp: { api: number; worker: number } | undefined;
      const warmUp = setTimeout(() => (atWarmUp = { api: rssMb(pids.api), worker: rssMb(pids.worker) }), WARM_UP_MS);

      const cannon = (options: autocannon.Options, tally: Tally) =>
        new Promise<autocannon.Result>((resolveRun, reject) => {
          const instance = autocannon(options, (err, result) => (err ? reject(err) : resolveRun(result)));
          instance.on('reqError', () => tally.errors++);
        });

      const createRun = cannon(
        {
          url: system.api.url,
          connections: CREATE_CONNECTIONS,
          overallRate: CREATES_PER_SECOND,
          duration: SECONDS,
          timeout: REQUEST_TIMEOUT_S,
          requests: [
            {
              method: 'POST',
              path: '/api/generations',
              setupRequest: (req, context) => {
                const user = prompts % USERS;
                (context as { user: number }).user = user;
                return {
                  ...req,
                  headers: { ...req.headers, 'content-type': 'application/json', authorization: bearer(user) },
                  body: JSON.stringify({ prompt: `load ${++prompts}`, model: MODEL }),
                };
              },
              onResponse: (status, body, context) => {
                count(creates, status);
                if (status === 202) {
                  const { data } = JSON.parse(body) as { data: { id: string } };
                  accepted.push({ id: data.id, user: (context as { user: number }).user });
                }
              },
            },
          ],
        },
        creates,
      );
      const pollRun = cannon(
        {
          url: system.api.url,
          connections: POLL_CONNECTIONS,
          overallRate: POLLS_PER_SECOND,
          duration: SECONDS,
          timeout: REQUEST_TIMEOUT_S,
          requests: [
            {
              method: 'GET',
              setupRequest: (req) => {
                const { id, user } = pick();
                return {
                  ...req,
                  path: `/api/generations/${id}`,
                  headers: { ...req.headers, authorization: bearer(user) },
                };
              },
              onResponse: (status) => count(polls, status),
            },
          ],
        },
        polls,
      );
      const streamRuns = Array.from({ length: STREAM_CLIENTS }, async () => {
        while (Date.now() - started < SECONDS * 1_000) {
          const { id, user } = pick();
          try {
            const stream = await SseClient.open(`${system.api.url}/api/generations/${id}/events`, {
              authorization: bearer(user),
            });
            count(streams, stream.status);
            if (stream.status === 200) await stream.ended(STREAM_END_MS);
          } catch {
            streams.errors++;
          }
        }
      });

      const [createResult, pollResult] = await Promise.all([createRun, pollRun, ...streamRuns]);
      clearInterval(sampler);
      clearTimeout(warmUp);
      const atEnd = { api: rssMb(pids.api), worker: rssMb(pids.worker) };

      // autocannon stops at its duration without waiting for the answers still due: those creates
      // made records whose 202 no client read. Every record is waited for; every 202 must have one.
      const ids = accepted.map((owned) => new ObjectId(owned.id));
      const generations = mongo.db.collection(COLLECTIONS.generations);
      // Settled: every record has ended, and no late create has landed for a while.
      const ended = { status: { $nin: ['pending', 'processing'] } };
      let records = -1;
      await eventually(
        'every generation has ended',
        async () => {
          const [total, done] = await Promise.all([generations.countDocuments(), generations.countDocuments(ended)]);
          const settled = total === done && total === records;
          records = total;
          if (!settled) await new Promise((resolveWait) => setTimeout(resolveWait, 1_000));
          return settled ? true : undefined;
        },
        60_000,
      );
      const report = {
        seconds: SECONDS,
        node: process.version,
        hf_latency_ms: HF_LATENCY_MS,
        worker_concurrency: 16,
        creates: { ...creates, ...served(createResult) },
        polls: { ...polls, ...served(pollResult) },
        streams,
        accepted: accepted.length,
        records,
        accepted_with_record: await generations.countDocuments({ _id: { $in: ids } }),
        distinct_prompts: (await generations.distinct('prompt')).length,
        completed: await generations.countDocuments({ status: 'completed' }),
        images: await mongo.db.collection(COLLECTIONS.images).countDocuments(),
        rss_mb: { at_warm_up: atWarmUp, at_end: atEnd, samples: rss },
      };
      mkdirSync(resolve(REPORT, '..'), { recursive: true });
      writeFileSync(REPORT, JSON.stringify(report, null, 2));
      process.stdout.write(
        `load run: ${JSON.stringify({ ...report, rss_mb: { at_warm_up: atWarmUp, at_end: atEnd } })}\n`,
      );

      expect(fivexx(creates) + fivexx(polls) + fivexx(streams)).toBe(0);
      expect(creates.errors + polls.errors + streams.errors).toBe(0);
      expect(createResult.timeouts + pollResult.timeouts).toBe(0);
      expect(Object.keys(creates.byStatus)).toEqual(['202']);
      expect(Object.keys(polls.byStatus)).toEqual(['200']);
      expect(Object.keys(streams.byStatus)).toEqual(['200']);
      // Nothing lost: every 202 has its record. Nothing doubled: one record per prompt, one image
      // per record. Records beyond the 202s are only creates in flight when autocannon stopped.
      expect(new Set(accepted.map((owned) => owned.id)).size).toBe(accepted.length);
      expect(report).toMatchObject({
        accepted_with_record: ids.length,
        distinct_prompts: records,
        completed: records,
        images: records,
      });
      expect(records - ids.length).toBeLessThanOrEqual(CREATE_CONNECTIONS);
      expect(system.api.child.exitCode).toBeNull();
      expect(system.worker.child.exitCode).toBeNull();
      if (JUDGE_MEMORY && atWarmUp) {
        expect(atEnd.api).toBeLessThanOrEqual(atWarmUp.api * 1.2);
        expect(atEnd.worker).toBeLessThanOrEqual(atWarmUp.worker * 1.2);
      }
    },
    SECONDS * 1_000 + 90_000,
  );
});
