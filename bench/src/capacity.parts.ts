import type { Stack } from '@imagegen/devstack';
import { COLLECTIONS, connectMongo, type GenerationDocument } from '@imagegen/core';
import { ObjectId, type Db } from 'mongodb';
import { Agent, request } from 'undici';
import type { HfStub } from './hf-stub';
import { percentile } from './measure';
import type { Running } from './processes';
import {
  CAPACITY_CREATE_P99_MS,
  CAPACITY_RATES,
  CAPACITY_STEP_SECONDS,
  CAPACITY_WORKER_CONCURRENCY,
  HF_LATENCY_MS,
} from './setup';
import { withSystem } from './system';

/**
 * A step keeps up when, past its first second (the pipeline filling), generations complete at no
 * less than this share of the rate they are created at; below it a queue grows.
 */
const KEPT_UP = 0.95;
const WARM_UP_SECONDS = 3;
/** Where the search starts, as an index into CAPACITY_RATES: the middle (`nextRate`). */
const FIRST = Math.floor((CAPACITY_RATES.length - 1) / 2);
/** How long after a step's last create its generations may take to end before it counts as failed. */
const DRAIN_MS = 10_000;
/** How long before a step the ones before it may take to end, at most, before the part gives up. */
const IDLE_MS = 60_000;

interface Offered {
  ids: ObjectId[];
  createMs: number[];
  failures: string[];
  seconds: number;
}

/**
 * Creates at `rate` per second for `seconds`: each sent at its time whatever the ones before it are
 * doing (an open loop, as independent clients send), none waiting for its generation (202).
 */
async function offer(api: Running, token: string, rate: number, seconds: number, agent: Agent): Promise<Offered> {
  const count = Math.round(rate * seconds);
  const offered: Offered = { ids: [], createMs: [], failures: [], seconds: 0 };
  const begun = performance.now();
  const sends: Promise<void>[] = [];
  for (let n = 0; n < count; n++) {
    const due = begun + (n * 1000) / rate;
    if (due > performance.now()) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
    sends.push(
      (async () => {
        const sent = performance.now();
        try {
          const res = await request(`${api.url}/api/generations`, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ prompt: `a capacity bench picture ${rate}/${n}` }),
          });
          const body = await res.body.text();
          offered.createMs.push(performance.now() - sent);
          if (res.statusCode !== 202) offered.failures.push(`${res.statusCode} ${body.slice(0, 120)}`);
          else offered.ids.push(new ObjectId((JSON.parse(body) as { data: { id: string } }).data.id));
        } catch (err) {
          offered.failures.push((err as Error).message);
        }
      })(),
    );
  }
  // From the first send to one interval past the last, as `seconds` counts it.
  offered.seconds = (performance.now() - begun) / 1000 + 1 / rate;
  await Promise.all(sends);
  return offered;
}

/**
 * Waits, at most `ms`, until no generation is in flight. It counts by status, an equality FerretDB
 * hands to PostgreSQL; `$in` it does not, and reading the whole collection in a loop would slow
 * the last generations of the step it waits for.
 */
async function untilIdle(db: Db, ms: number): Promise<boolean> {
  const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  const until = Date.now() + ms;
  const inFlight = async () =>
    (await generations.countDocuments({ status: 'pending' })) +
    (await generations.countDocuments({ status: 'processing' }));
  for (;;) {
    if ((await inFlight()) === 0) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The step's generations once none is in flight, or as they stand after DRAIN_MS. */
async function whenEnded(db: Db, ids: ObjectId[]): Promise<GenerationDocument[]> {
  await untilIdle(db, DRAIN_MS);
  return db
    .collection<GenerationDocument>(COLLECTIONS.generations)
    .find({ _id: { $in: ids } }, { projection: { status: 1, created_at: 1, completed_at: 1 } })
    .toArray();
}

/**
 * Generations completed per generation created over the step once it is under way: those created
 * from its second second to its end, against those completed over the same span HF's latency later
 * (the records' own clocks). A system that keeps up completes as many as it takes; one that does
 * not completes them at its own rate, and the share is that rate over the offered one.
 */
function completionShare(docs: GenerationDocument[]): number {
  const created = docs.map((doc) => doc.created_at.getTime());
  const from = Math.min(...created) + 1_000;
  const to = Math.max(...created);
  const inSpan = (t: number, shift: number) => t >= from + shift && t <= to + shift;
  const taken = created.filter((t) => inSpan(t, 0)).length;
  const done = docs.filter((doc) => doc.completed_at && inSpan(doc.completed_at.getTime(), HF_LATENCY_MS)).length;
  return Math.round((done / taken) * 100) / 100;
}

interface Target {
  api: Running;
  token: string;
  db: Db;
  agent: Agent;
}

/**
 * One fixed-rate step: its figures, and whether one API and one worker kept up with it. It starts
 * once the steps before it have nothing in flight: after a failed step a backlog may outlast
 * DRAIN_MS, and a step sent on top of it would be measured with another step's load.
 */
async function step({ api, token, db, agent }: Target, rate: number, seconds: number) {
  if (!(await untilIdle(db, IDLE_MS)))
    throw new Error(`capacity ${rate}/s: generations still in flight after ${IDLE_MS} ms`);
  const offered = await offer(api, token, rate, seconds, agent);
  const docs = await whenEnded(db, offered.ids);
  const completed = docs.filter((doc) => doc.status === 'completed' && doc.completed_at);
  const createMs = offered.createMs.sort((a, b) => a - b);
  const keptUp = completionShare(docs);
  const e2eMs = completed.map((doc) => doc.completed_at!.getTime() - doc.created_at.getTime()).sort((a, b) => a - b);
  const figures = {
    rate,
    // What the bench managed to send: a bench process starved of CPU would offer less than asked.
    sent_per_s: Math.round((offered.createMs.length / offered.seconds) * 10) / 10,
    create_p50_ms: Math.round(percentile(createMs, 50)),
    create_p99_ms: Math.round(percentile(createMs, 99)),
    errors: offered.failures.length,
    not_completed: offered.ids.length - completed.length,
    e2e_p50_ms: percentile(e2eMs, 50),
    e2e_p99_ms: percentile(e2eMs, 99),
    completed_per_created: keptUp,
  };
  const passed =
    figures.errors === 0 &&
    figures.not_completed === 0 &&
    figures.create_p99_ms < CAPACITY_CREATE_P99_MS &&
    keptUp >= KEPT_UP;
  if (offered.failures.length) console.log(`[bench] capacity ${rate}/s: ${offered.failures.slice(0, 3).join('; ')}`);
  return { ...figures, passed };
}

/**
 * The next rate to try, as an index into CAPACITY_RATES, or undefined once the search is done. The
 * search takes a rate below one that passed to pass, and one above one that failed to fail. It
 * starts in the middle of the list (40/s of the default rates), climbs from a rate that passed by
 * doubling (the highest listed rate at most twice it) until a rate fails, then halves the listed
 * rates between the highest that passed and the lowest that failed (below the first, if it
 * failed). Over the 13 default rates that is 3 to 5 rates instead of up to 13 one by one; each
 * takes a step and a drain, 8 to 9 s. Starting at the bottom of the list cost two steps more on
 * 2-core machines, whose figures have been 70 to 100/s.
 */
function nextRate(passed: number, failed: number | undefined): number | undefined {
  if (failed === undefined) {
    if (passed < 0) return FIRST;
    if (passed === CAPACITY_RATES.length - 1) return undefined;
    const limit = 2 * CAPACITY_RATES[passed]!;
    let next = passed + 1;
    while (next + 1 < CAPACITY_RATES.length && CAPACITY_RATES[next + 1]! <= limit) next++;
    return next;
  }
  return failed - passed > 1 ? Math.floor((passed + failed) / 2) : undefined;
}

/**
 * The highest steady rate of generations per second one API and one worker complete, HF
 * answering after HF_LATENCY_MS at any concurrency: fixed-rate steps at rates of CAPACITY_RATES
 * chosen by `nextRate`, each failing on a create error, a create p99 at CAPACITY_CREATE_P99_MS or
 * more, a generation not completed, or completions falling behind creates (a queue growing).
 */
export async function capacity(stack: Stack, hf: HfStub) {
  hf.latencyMs = HF_LATENCY_MS;
  return withSystem(
    stack,
    hf,
    'capacity',
    { workerConcurrency: CAPACITY_WORKER_CONCURRENCY },
    async ({ api, token, mongoUri }) => {
      const mongo = await connectMongo(mongoUri);
      const agent = new Agent({ keepAliveTimeout: 30_000 });
      try {
        const target = { api, token, db: mongo.db, agent };
        // Unmeasured, as in the e2e part: the first generations pay for compiling and connecting. At
        // the first step's rate: after 3 s at 10/s, the first step, at 40/s, failed with a create
        // p99 of 200 ms while the worker was still opening connections and compiling.
        await step(target, CAPACITY_RATES[FIRST]!, WARM_UP_SECONDS);
        const steps = [];
        let passed = -1;
        // Rates that failed, by index, and on how many tries; the lowest is the search's `failed`.
        const failures = new Map<number, number>();
        const lowestFailed = () => (failures.size ? Math.min(...failures.keys()) : undefined);
        for (;;) {
          const boundary = lowestFailed();
          let next = nextRate(passed, boundary);
          // The search is done: the rate its figure rests on (the lowest that failed, next above the
          // highest that passed) fails only on its second try, since one stall of this shared
          // machine (a p99 of a few hundred creates) is not where the system stops. A rate that
          // failed once above it needs no second try: it steered the search no further than the
          // boundary's own second try confirms.
          if (next === undefined && boundary !== undefined && failures.get(boundary) === 1) next = boundary;
          if (next === undefined) break;
          const rate = CAPACITY_RATES[next]!;
          const figures = {
            ...(await step(target, rate, CAPACITY_STEP_SECONDS)),
            attempt: (failures.get(next) ?? 0) + 1,
          };
          console.log(`[bench] capacity ${rate}/s: ${JSON.stringify(figures)}`);
          steps.push(figures);
          if (figures.passed) {
            passed = next;
            failures.delete(next);
          } else failures.set(next, figures.attempt);
        }
        return {
          generations_per_s: passed < 0 ? 0 : CAPACITY_RATES[passed]!,
          hf_latency_ms: HF_LATENCY_MS,
          worker_concurrency: CAPACITY_WORKER_CONCURRENCY,
          step_seconds: CAPACITY_STEP_SECONDS,
          // Every step passed: the figure is the top of the steps, not where the system stops.
          at_top_of_steps: passed === CAPACITY_RATES.length - 1,
          steps,
        };
      } finally {
        await Promise.all([agent.close(), mongo.client.close()]);
      }
    },
  );
}
