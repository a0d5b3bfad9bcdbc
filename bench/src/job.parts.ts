import type { Stack } from '@imagegen/devstack';
import { connectMongo, GenerationEvents } from '@imagegen/core';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import type { HfStub } from './hf-stub';
import { lastCompleted, percentile, queueJobs } from './measure';
import { baseline, rssMb, run, service } from './processes';
import {
  E2E_IN_FLIGHT,
  E2E_JOBS,
  HF_LATENCY_MS,
  MEMORY_IMAGE_READ_EVERY,
  MEMORY_IN_FLIGHT,
  MEMORY_JOBS,
  MEMORY_SAMPLE_EVERY,
  MEMORY_WARM_UP_JOBS,
  WORKER_CONCURRENCY,
  WORKER_JOBS,
  mean,
  place,
  ratio,
  ROUNDS,
  s3Store,
} from './setup';
import { generate, withSystem, type Ended } from './system';

/**
 * Jobs per second of a worker process draining WORKER_JOBS queued jobs, HF answering at once: from
 * the moment the queue lets them be taken to the last one's `completed_at`.
 */
async function drain(stack: Stack, hf: HfStub, script: string, name: string): Promise<number> {
  const where = place(stack, name);
  const worker = await run(
    script,
    { ...where, HF_TOKEN: 'hf_bench', HF_BASE_URL: hf.baseUrl, WORKER_CONCURRENCY: String(WORKER_CONCURRENCY) },
    'WORKER_HEALTH_PORT',
    '/',
  );
  const mongo = await connectMongo(where.MONGODB_URI);
  try {
    const queued = await queueJobs(mongo.db, stack.redisUrl, where.QUEUE_PREFIX, new ObjectId(), WORKER_JOBS);
    const resumed = await queued.resume();
    const ms = (await lastCompleted(mongo.db, WORKER_JOBS, 240_000)) - resumed;
    return Math.round((WORKER_JOBS / (ms / 1000)) * 10) / 10;
  } finally {
    await Promise.all([worker.stop(), mongo.client.close()]);
  }
}

/** The floor and ours in turn, ROUNDS times each, each side's mean (as the API parts do). */
export async function workerThroughput(stack: Stack, hf: HfStub) {
  hf.latencyMs = 0;
  const floors: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    floors.push(await drain(stack, hf, baseline('worker'), 'worker_floor'));
    ours.push(await drain(stack, hf, service('worker'), 'worker'));
  }
  const [floor, our] = [mean(floors), mean(ours)].map((jobs) => Math.round(jobs * 10) / 10) as [number, number];
  return { jobs_per_s: our, baseline_jobs_per_s: floor, ratio: ratio(our, floor) };
}

export async function endToEnd(stack: Stack, hf: HfStub) {
  hf.latencyMs = HF_LATENCY_MS;
  return withSystem(stack, hf, 'e2e', { workerConcurrency: E2E_IN_FLIGHT }, async ({ api, token, queuePrefix }) => {
    // One round unmeasured: the processes' first generations pay for compiling their code paths and
    // opening connections, which says nothing of the steady cost per generation. It is the stream's
    // first round, each client's first generation, not a round of its own: after a round awaited
    // whole, every client would send its next create in the same millisecond, a burst of 20 that
    // steady clients never make. In three runs so, that first measured round held 12 to 17 of the 20
    // slowest of the 200: p99 1,215, 1,184 and 1,193 ms with it, 1,185, 1,152 and 1,168 without.
    const all = await generate(api, token, E2E_IN_FLIGHT + E2E_JOBS, E2E_IN_FLIGHT);
    const done = all.filter((g) => g.n >= E2E_IN_FLIGHT);
    const times = done.map((g) => Date.parse(g.completed_at!) - Date.parse(g.created_at)).sort((a, b) => a - b);
    const p50 = percentile(times, 50);
    const p99 = percentile(times, 99);
    // Where the time beyond HF's goes: before a worker starts the run, and during it.
    const waits = done.map((g) => Date.parse(g.started_at!) - Date.parse(g.created_at)).sort((a, b) => a - b);
    const runs = done.map((g) => Date.parse(g.completed_at!) - Date.parse(g.started_at!)).sort((a, b) => a - b);
    const startWrites = (await startWriteTimes(stack.redisUrl, queuePrefix, done)).sort((a, b) => a - b);
    return {
      hf_latency_ms: HF_LATENCY_MS,
      p50_ms: p50,
      p99_ms: p99,
      wait_p50_ms: percentile(waits, 50),
      wait_p99_ms: percentile(waits, 99),
      run_p50_ms: percentile(runs, 50),
      run_p99_ms: percentile(runs, 99),
      start_write_p50_ms: percentile(startWrites, 50),
      start_write_p99_ms: percentile(startWrites, 99),
      ratio_p50: ratio(p50, HF_LATENCY_MS),
      ratio_p99: ratio(p99, HF_LATENCY_MS),
    };
  });
}

/**
 * How long each worker's first write (pending → processing) took: from the `started_at` it stamps
 * before the write to its `processing` event, appended once the write returned. The event's stream
 * id is Redis's clock in ms, which the services share with the bench on this one machine.
 */
async function startWriteTimes(redisUrl: string, queuePrefix: string, done: Ended[]): Promise<number[]> {
  const redis = new Redis(redisUrl);
  try {
    const events = new GenerationEvents(redis, queuePrefix);
    return await Promise.all(
      done.map(async (g) => {
        const stored = await events.after(g.id);
        const processing = stored.find(({ event }) => event.type === 'status' && event.status === 'processing');
        if (!processing) throw new Error(`generation ${g.id}: no processing event`);
        return Number(processing.id.split('-')[0]) - Date.parse(g.started_at!);
      }),
    );
  } finally {
    redis.disconnect();
  }
}

export async function memory(stack: Stack, hf: HfStub) {
  hf.latencyMs = 0;
  const images = s3Store(stack, 'memory');
  return withSystem(
    stack,
    hf,
    'memory',
    { workerConcurrency: MEMORY_IN_FLIGHT, env: images },
    async ({ api, token, worker }) => {
      const answers = { imageEvery: MEMORY_IMAGE_READ_EVERY };
      await generate(api, token, MEMORY_WARM_UP_JOBS, MEMORY_IN_FLIGHT, answers);
      const start = { api: rssMb(api.child), worker: rssMb(worker.child) };
      // RSS along the way too: a climb that levels off is V8 sizing its heap, one that goes on is a leak.
      // Sampled as the generations end, without a pause in the load: a wait for the ones in flight
      // at each sample left the machine part idle ten times over.
      const samples: { jobs: number; api: number; worker: number }[] = [];
      const done = await generate(api, token, MEMORY_JOBS, MEMORY_IN_FLIGHT, answers, (jobs) => {
        if (jobs % MEMORY_SAMPLE_EVERY === 0 || jobs === MEMORY_JOBS)
          samples.push({ jobs, api: rssMb(api.child), worker: rssMb(worker.child) });
      });
      const imagesRead = done.filter((g) => g.imageRead).length;
      const end = { api: rssMb(api.child), worker: rssMb(worker.child) };
      return {
        jobs: MEMORY_JOBS,
        image_bytes: hf.image.length,
        images_read_through_api: imagesRead,
        worker_rss_start_mb: start.worker,
        worker_rss_end_mb: end.worker,
        api_rss_start_mb: start.api,
        api_rss_end_mb: end.api,
        worker_ratio: ratio(end.worker, start.worker),
        api_ratio: ratio(end.api, start.api),
        rss_samples_mb: samples,
      };
    },
  );
}
