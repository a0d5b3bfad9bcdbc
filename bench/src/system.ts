import type { Stack } from '@imagegen/devstack';
import { request } from 'undici';
import type { Generation } from '@imagegen/shared';
import type { HfStub } from './hf-stub';
import { bothStarted, run, service, type Running } from './processes';
import { place, startOurApi } from './setup';

/** Our API and worker on a place of their own: what the parts that follow generations end to end run. */
export interface System {
  api: Running;
  worker: Running;
  token: string;
  queuePrefix: string;
  mongoUri: string;
}

export interface SystemOptions {
  workerConcurrency: number;
  /** Given to both processes, e.g. an image store. */
  env?: Record<string, string>;
}

export async function withSystem<T>(
  stack: Stack,
  hf: HfStub,
  name: string,
  { workerConcurrency, env = {} }: SystemOptions,
  use: (system: System) => Promise<T>,
): Promise<T> {
  const where = place(stack, name);
  // Started together, as the tests start them: each takes a second or two, none of it measured.
  const [ours, worker] = await bothStarted(
    startOurApi({ ...where, ...env }),
    run(
      service('worker'),
      {
        ...where,
        ...env,
        HF_TOKEN: 'hf_bench',
        HF_BASE_URL: hf.baseUrl,
        WORKER_CONCURRENCY: String(workerConcurrency),
        HF_TIMEOUT_MS: '60000',
      },
      'WORKER_HEALTH_PORT',
      '/',
    ),
    { a: (started) => started.api.stop(), b: (started) => started.stop() },
  );
  const { api, token } = ours;
  try {
    return await use({ api, worker, token, queuePrefix: where.QUEUE_PREFIX, mongoUri: where.MONGODB_URI });
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
  }
}

/** What the parts keep of a generation: its clocks, and whether its image was read. */
export type Ended = Pick<Generation, 'id' | 'created_at' | 'started_at' | 'completed_at'> & {
  /** Its place in the stream: the nth created, from 0. */
  n: number;
  /** Its image was read through the API (`Answers`). */
  imageRead: boolean;
};

/**
 * How the parts ask for each generation's answer. `full`: the record with its image as a data URL,
 * as the seed's clients read it. `{ imageEvery: n }`: the record without its bytes (`Prefer:
 * return=minimal`), and every nth generation's image fetched through the API's `/image`.
 */
export type Answers = 'full' | { imageEvery: number };

/**
 * `count` generations through the API, `inFlight` at a time, each answered when it ends (Prefer:
 * wait). Of each answer only its clocks are kept: its image, a data URL, would hold 1.4 GB per
 * 1,000 generations of 1 MB in the bench's own heap. undici's `request` rather than `fetch`: the
 * bench shares the machine's two cores with what it measures, and fetch (its web streams) spent
 * about a third more CPU reading each 1.4 MB answer. `onEnded` is told how many have ended, after
 * each one.
 */
export async function generate(
  api: Running,
  token: string,
  count: number,
  inFlight: number,
  answers: Answers = 'full',
  onEnded?: (ended: number) => void,
): Promise<Ended[]> {
  let next = 0;
  const done: Ended[] = [];
  const prefer = answers === 'full' ? 'wait=60' : 'wait=60, return=minimal';
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const n = next++;
        const res = await request(`${api.url}/api/generations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, prefer },
          body: JSON.stringify({ prompt: `an end-to-end bench picture ${n}` }),
        });
        const body = (await res.body.json()) as { data: Generation };
        if (res.statusCode !== 200 || body.data.status !== 'completed')
          throw new Error(`generation ${n}: ${res.statusCode} ${JSON.stringify(body).slice(0, 200)}`);
        const { id, created_at, started_at, completed_at } = body.data;
        const imageRead = answers !== 'full' && n % answers.imageEvery === 0;
        if (imageRead) await readImage(api, token, body.data);
        done.push({ id, created_at, started_at, completed_at, n, imageRead });
        onEnded?.(done.length);
      }
    }),
  );
  return done;
}

/** Reads `generation`'s first image through the API, counting its bytes rather than keeping them. */
async function readImage(api: Running, token: string, generation: Generation): Promise<void> {
  const res = await request(`${api.url}/api/generations/${generation.id}/image`, {
    headers: { authorization: `Bearer ${token}` },
  });
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) size += chunk.length;
  if (res.statusCode !== 200 || size !== generation.image?.size_bytes)
    throw new Error(`image of ${generation.id}: ${res.statusCode}, ${size} bytes of ${generation.image?.size_bytes}`);
}
