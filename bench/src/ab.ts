import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startStack } from '@imagegen/devstack';
import { createLoad, signInClients } from './api.parts';
import type { HttpFigures } from './measure';
import { ROOT, type Running } from './processes';
import { SECONDS, WARM_UP_SECONDS, clearPlaces, mean, place, startOurApi } from './setup';

/**
 * `pnpm bench:ab`: our create path in two checkouts, side by side on the same services. Both APIs
 * run at once and take the load in turn, `BENCH_AB_ROUNDS` times each (A, B, B, A, A, B, …), so a
 * change of the machine's speed during the run moves both alike. A change of a few per cent is
 * within the bench's run-to-run noise (±0.03 of a ratio on these shared machines) and cannot be
 * seen by comparing two `pnpm bench` runs. Here it can be, by runs that agree, against the spread
 * this tool itself shows when `BENCH_AB_OTHER` is a checkout of the same commit (up to 5 % over 8
 * rounds here).
 *
 * Besides requests per second, each API's CPU per request from /proc: the API's own work, which
 * moves less with the other processes' share of the machine than its rate does. And the machine's
 * CPU per request (every process: Redis, the MongoDB-wire server, PostgreSQL, the load generator),
 * since the bench's ratio is bound by all of them sharing its cores: a change that moves work from
 * the API to Redis shows there as no gain.
 */
const OTHER = process.env.BENCH_AB_OTHER;
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 8);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  throw new Error(`BENCH_AB_ROUNDS must be a whole number of rounds, 1 or more: ${process.env.BENCH_AB_ROUNDS}`);
const TICKS_PER_S = 100;

/** User plus system CPU time of process `pid`, in ms (fields 14 and 15 of /proc/pid/stat, in ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

/**
 * CPU time the whole machine spent on its processes, in ms: /proc/stat's `cpu` line without idle,
 * iowait, and steal (time the hypervisor gave to other machines).
 */
function machineCpuMs(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = ticks;
  return ((user + nice + system + irq + softirq) * 1000) / TICKS_PER_S;
}

/** Creates on one side for `seconds`, as `api_create` does; a failed request stops the run. */
async function load(side: { name: string; api: Running; tokens: string[] }, seconds: number): Promise<HttpFigures> {
  const figures = await createLoad(side.api.url, side.tokens, seconds);
  if (figures.non2xx || figures.errors) throw new Error(`side ${side.name}: ${JSON.stringify(figures)}`);
  return figures;
}

interface Figures {
  rps: number;
  cpu: number;
  machine: number;
}

async function main(): Promise<void> {
  if (!OTHER) throw new Error('BENCH_AB_OTHER: the root of the other checkout, built (pnpm build)');
  const stack = await startStack();
  try {
    const sides = await Promise.all(
      (['A', 'B'] as const).map(async (name) => {
        const root = name === 'A' ? ROOT : resolve(OTHER);
        const { api } = await startOurApi(place(stack, `ab_${name}`), resolve(root, 'services/api/dist/main.js'));
        return {
          name,
          root,
          api,
          tokens: await signInClients(api.url),
          rps: [] as number[],
          cpuPerRequest: [] as number[],
          machinePerRequest: [] as number[],
        };
      }),
    );
    console.log(`[ab] A: ${sides[0]!.root}\n[ab] B: ${sides[1]!.root}`);
    try {
      // Unmeasured first, as in the bench's API parts: a new process's first requests are slower.
      for (const side of sides) await load(side, WARM_UP_SECONDS);
      for (let round = 0; round < ROUNDS; round++) {
        // A, B then B, A: whatever the side that goes second gains or loses is shared.
        for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
          const before = cpuMs(side.api.child.pid!);
          const machineBefore = machineCpuMs();
          const figures = await load(side, SECONDS);
          const requests = figures.rps * SECONDS;
          side.rps.push(figures.rps);
          side.cpuPerRequest.push((cpuMs(side.api.child.pid!) - before) / requests);
          side.machinePerRequest.push((machineCpuMs() - machineBefore) / requests);
          console.log(
            `[ab] round ${round + 1} ${side.name}: ${figures.rps} requests/s, ${side.cpuPerRequest.at(-1)!.toFixed(3)} ms of API CPU and ${side.machinePerRequest.at(-1)!.toFixed(3)} ms of the machine's per request`,
          );
        }
      }
    } finally {
      // autocannon abandons the requests in flight when it stops. This checkout's API waits for them
      // as it stops, but the other's may predate that (3df06b1), and stop under them: 500s logged.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await Promise.all(sides.map((side) => side.api.stop()));
    }
    const [a, b] = sides.map((side) => ({
      rps: mean(side.rps),
      cpu: mean(side.cpuPerRequest),
      machine: mean(side.machinePerRequest),
    })) as [Figures, Figures];
    console.table({
      'requests/s': { A: a.rps.toFixed(1), B: b.rps.toFixed(1), 'B / A': (b.rps / a.rps).toFixed(3) },
      'API CPU per request (ms)': { A: a.cpu.toFixed(3), B: b.cpu.toFixed(3), 'B / A': (b.cpu / a.cpu).toFixed(3) },
      'machine CPU per request (ms)': {
        A: a.machine.toFixed(3),
        B: b.machine.toFixed(3),
        'B / A': (b.machine / a.machine).toFixed(3),
      },
    });
  } finally {
    await clearPlaces(stack.redisUrl);
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`[ab] ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
