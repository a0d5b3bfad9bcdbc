import type { ApiFailure } from '@imagegen/shared';
import { hf } from '../support/hf-emulator';
import { newUser, startSystem, type System } from '../support/system';

const COMPLETES = 'test/completes';
const FAILS = 'test/does-not-exist';

/**
 * The cap on a user's generations in flight, with the worker moving them on: each way a
 * generation ends in the worker (completed, failed) gives its place back, as a cancel in the API
 * does (services/api/test/create-limits.test.ts).
 */
describe('the cap on generations in flight, as the worker ends them', () => {
  let system: System;

  beforeAll(async () => {
    system = await startSystem({ apiEnv: { MAX_IN_FLIGHT_PER_USER: '1' } });
    system.emulator.always(COMPLETES, hf.png());
    system.emulator.always(FAILS, hf.notFound(FAILS));
  });

  afterAll(async () => {
    await system?.stop();
  });

  test('when the one generation allowed completes, or fails, then the user may create the next', async () => {
    const client = await newUser(system);

    // Held at Hugging Face until the second create has been refused, so the first is surely in flight.
    let release = () => undefined as void;
    system.emulator.script(COMPLETES, hf.pngWhen(new Promise<void>((resolve) => (release = resolve))));
    const first = await client.create({ prompt: 'completes', model: COMPLETES });
    const refused = await client.request<ApiFailure>('POST', '/api/generations', { prompt: 'too many' });
    release();
    expect(refused.status).toBe(429);
    expect((await client.waitFor(first.id, ['completed'])).status).toBe('completed');

    const second = await client.create({ prompt: 'fails', model: FAILS });
    expect((await client.waitFor(second.id, ['failed'])).status).toBe('failed');

    const third = await client.request('POST', '/api/generations', { prompt: 'after both', model: COMPLETES });
    expect(third.status).toBe(202);
  });
});
