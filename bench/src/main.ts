import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildS3Server, startStack } from '@imagegen/devstack';
import { apiCreate, apiGet } from './api.parts';
import { capacity } from './capacity.parts';
import { HfStub, noisePng } from './hf-stub';
import { imageOffload } from './image.parts';
import { endToEnd, memory, workerThroughput } from './job.parts';
import { ROOT } from './processes';
import { clearPlaces, MEMORY_JOBS, MEMORY_WARM_UP_JOBS } from './setup';

/**
 * `pnpm bench`: every figure is ours against a floor measured in the same run, on the same
 * services (bench/README.md). Sizes and durations come from BENCH_* variables (bench/src/setup.ts).
 */
/** Runs one part, saying how long it took. */
async function part<T>(name: string, measure: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await measure();
  console.log(`[bench] ${name}: ${Math.round((Date.now() - started) / 1000)} s`);
  return result;
}

async function main(): Promise<void> {
  // A tool built on a machine's first run is not the bench: its build (a minute or two, once) is
  // timed apart from `duration_s`, as the TypeScript build before it is.
  const building = Date.now();
  await buildS3Server();
  console.log(`[bench] versitygw ready in ${Math.round((Date.now() - building) / 1000)} s (not counted)`);
  const started = Date.now();
  // Read as the run starts, when the code it runs was built: a commit made meanwhile is not it.
  const commit = git('rev-parse', '--short', 'HEAD');
  // Changes to tracked files other than results: the figures are then not all the commit's.
  const uncommitted = git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results') !== '';
  // The memory part's images fill the bucket: with their files in memory, versitygw spends a quarter
  // less CPU. They took 367.5 MB at 350 images of 1 MB (du of the stack's directory): a quarter more
  // than the images' own size leaves room for the rest.
  const stack = await startStack({ s3: true, memoryBytes: (MEMORY_WARM_UP_JOBS + MEMORY_JOBS) * 1.25 * 2 ** 20 });
  for (const line of stack.descriptions) console.log(`[bench] ${line}`);
  const megabyte = noisePng(512, 512);
  const small = noisePng(64, 64);
  const hf = await HfStub.start(small);
  try {
    const only = process.env.BENCH_PARTS?.split(',').map((name) => name.trim());
    if (only) {
      // A subset, for working on one figure: printed, not recorded, since results need every part.
      const parts: Record<string, () => Promise<unknown>> = {
        api_create: () => apiCreate(stack),
        api_get: () => apiGet(stack, megabyte),
        worker: () => workerThroughput(stack, hf),
        e2e: () => endToEnd(stack, hf),
        capacity: () => ((hf.image = small), capacity(stack, hf)),
        memory: () => ((hf.image = megabyte), memory(stack, hf)),
        image_offload: () => imageOffload(stack, megabyte),
      };
      for (const name of only) {
        const measure = parts[name];
        if (!measure) throw new Error(`BENCH_PARTS: no part ${name}; parts are ${Object.keys(parts).join(', ')}`);
        console.log(`[bench] ${name}: ${JSON.stringify(await part(name, measure))}`);
      }
      return;
    }
    const api_create = await part('api_create', () => apiCreate(stack));
    const api_get = await part('api_get', () => apiGet(stack, megabyte));
    const worker = await part('worker', () => workerThroughput(stack, hf));
    const e2e = await part('e2e', () => endToEnd(stack, hf));
    const capacityFigures = await part('capacity', () => capacity(stack, hf));
    hf.image = megabyte;
    const mem = await part('memory', () => memory(stack, hf));
    const image_offload = await part('image_offload', () => imageOffload(stack, megabyte));
    const results = {
      api_create,
      api_get,
      worker,
      e2e,
      capacity: capacityFigures,
      memory: mem,
      image_offload,
      node_version: process.version,
      git_commit: commit,
      git_uncommitted_changes: uncommitted,
      services: stack.descriptions,
      duration_s: Math.round((Date.now() - started) / 1000),
    };
    const dir = resolve(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const text = `${JSON.stringify(results, null, 2)}\n`;
    writeFileSync(resolve(dir, 'latest.json'), text);
    writeFileSync(resolve(dir, `${new Date().toISOString().slice(0, 10)}-${commit}.json`), text);
    console.table({
      'api_create (rps)': {
        ours: api_create.rps,
        baseline: api_create.baseline_rps,
        ratio: api_create.ratio,
        target: '≥ 0.7',
      },
      'api_get (rps)': { ours: api_get.rps, baseline: api_get.baseline_rps, ratio: api_get.ratio, target: '≥ 0.8' },
      'worker (jobs/s)': {
        ours: worker.jobs_per_s,
        baseline: worker.baseline_jobs_per_s,
        ratio: worker.ratio,
        target: '≥ 0.7',
      },
      'e2e p50 (ms)': { ours: e2e.p50_ms, baseline: e2e.hf_latency_ms, ratio: e2e.ratio_p50, target: '≤ 1.05' },
      'e2e p99 (ms)': { ours: e2e.p99_ms, baseline: e2e.hf_latency_ms, ratio: e2e.ratio_p99, target: '≤ 1.2' },
      'capacity (generations/s)': {
        ours: capacityFigures.generations_per_s,
        baseline: '—',
        ratio: '—',
        target: '—',
      },
      'worker RSS (MB)': {
        ours: mem.worker_rss_end_mb,
        baseline: mem.worker_rss_start_mb,
        ratio: mem.worker_ratio,
        target: '≤ 1.2',
      },
      'api RSS (MB)': {
        ours: mem.api_rss_end_mb,
        baseline: mem.api_rss_start_mb,
        ratio: mem.api_ratio,
        target: '≤ 1.2',
      },
      'API bytes per image (presigned / api)': {
        ours: image_offload.api_bytes_per_image_after,
        baseline: image_offload.api_bytes_per_image_before,
        ratio: image_offload.ratio,
        target: '—',
      },
    });
    console.log(`[bench] ${results.duration_s} s; bench/results/latest.json written`);
  } finally {
    await hf.close();
    await clearPlaces(stack.redisUrl);
    await stack.stop();
  }
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT }).toString().trim();
}

main().catch((err: unknown) => {
  console.error(`[bench] ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
