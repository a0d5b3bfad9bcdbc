import type { Stack } from '@imagegen/devstack';
import { connectMongo } from '@imagegen/core';
import { completedGeneration, httpLoad, type HttpFigures } from './measure';
import { baseline, run } from './processes';
import { CONNECTIONS, ROUNDS, SECONDS, WARM_UP_SECONDS, mean, place, ratio, signIn, startOurApi } from './setup';

/**
 * An unmeasured load of WARM_UP_SECONDS on each side first: a new process runs its first few
 * thousand requests slower while V8 compiles its hot paths, and ours has more code to compile
 * than the floor. Measured with `pnpm bench:ab` (two identical APIs): the first 5 s of creates
 * ran at 625 requests/s and 1.17 ms of API CPU each, the next 55 s at 690–1,030 requests/s and
 * 0.57–0.99 ms. The figures are the steady cost per request, as in the `e2e` and `capacity` parts.
 * Then the floor and ours in turn, ROUNDS times each, and each side's mean.
 */
async function alternate(
  floor: (seconds: number) => Promise<HttpFigures>,
  ours: (seconds: number) => Promise<HttpFigures>,
) {
  await floor(WARM_UP_SECONDS);
  await ours(WARM_UP_SECONDS);
  const runs: { floor: HttpFigures[]; ours: HttpFigures[] } = { floor: [], ours: [] };
  for (let i = 0; i < ROUNDS; i++) {
    runs.floor.push(await floor(SECONDS));
    runs.ours.push(await ours(SECONDS));
  }
  for (const figures of [...runs.floor, ...runs.ours]) {
    if (figures.non2xx || figures.errors) throw new Error(`a load run had failures: ${JSON.stringify(figures)}`);
  }
  const rps = mean(runs.ours.map((f) => f.rps));
  const baselineRps = mean(runs.floor.map((f) => f.rps));
  return {
    rps: Math.round(rps * 10) / 10,
    baseline_rps: Math.round(baselineRps * 10) / 10,
    ratio: ratio(rps, baselineRps),
    p99_ms: Math.max(...runs.ours.map((f) => f.p99_ms)),
    baseline_p99_ms: Math.max(...runs.floor.map((f) => f.p99_ms)),
  };
}

const createBody = (n: number) => JSON.stringify({ prompt: `a bench picture ${n}` });

/**
 * Signs in a user per connection, as many clients would be (one user's creates stop at its cap in
 * flight): their tokens, for `createLoad`.
 */
export function signInClients(apiUrl: string): Promise<string[]> {
  return Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => signIn(apiUrl, `bench${i}@example.com`)));
}

/** Creates through our API at `apiUrl` for `seconds`, each connection as the user of its token. */
export function createLoad(apiUrl: string, tokens: string[], seconds: number): Promise<HttpFigures> {
  return httpLoad(apiUrl, CONNECTIONS, seconds, (n) => ({
    method: 'POST',
    path: '/api/generations',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[n % tokens.length]!}` },
    body: createBody(n),
  }));
}

export async function apiCreate(stack: Stack) {
  const { api } = await startOurApi(place(stack, 'create'));
  const floor = await run(baseline('api'), place(stack, 'create_floor'), 'PORT', '/health');
  const tokens = await signInClients(api.url);
  try {
    return await alternate(
      (seconds) =>
        httpLoad(floor.url, CONNECTIONS, seconds, (n) => ({
          method: 'POST',
          path: '/generations',
          headers: { 'content-type': 'application/json' },
          body: createBody(n),
        })),
      (seconds) => createLoad(api.url, tokens, seconds),
    );
  } finally {
    await Promise.all([api.stop(), floor.stop()]);
  }
}

export async function apiGet(stack: Stack, image: Buffer) {
  const ours = place(stack, 'get');
  const floorPlace = place(stack, 'get_floor');
  const { api, token, userId } = await startOurApi(ours);
  const floor = await run(baseline('api'), floorPlace, 'PORT', '/health');
  const [ourDb, floorDb] = await Promise.all([connectMongo(ours.MONGODB_URI), connectMongo(floorPlace.MONGODB_URI)]);
  try {
    const ourId = await completedGeneration(ourDb.db, userId, image);
    const floorId = await completedGeneration(floorDb.db, userId, image);
    return await alternate(
      (seconds) =>
        httpLoad(floor.url, CONNECTIONS, seconds, () => ({ method: 'GET', path: `/generations/${floorId}` })),
      (seconds) =>
        httpLoad(api.url, CONNECTIONS, seconds, () => ({
          method: 'GET',
          path: `/api/generations/${ourId}`,
          headers: { authorization: `Bearer ${token}` },
        })),
    );
  } finally {
    await Promise.all([api.stop(), floor.stop(), ourDb.client.close(), floorDb.client.close()]);
  }
}
