import type { ApiFailure } from '@imagegen/shared';
import type { ApiClient } from '../../../test/support/api-client';
import { startHarness, type Harness } from './api-harness';

/**
 * A model id becomes part of the provider URL's path (`${HF_BASE_URL}/${model}`), where a `.` or
 * `..` segment would climb out of it: `../..` would send the request, with its token, elsewhere on
 * the provider's host. The schema refuses such ids at create, so no job is ever made for one.
 */
describe('model ids with dot segments', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness({ CREATE_RATE_LIMIT: '1000' });
    client = await h.user('dot-segments@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test.each(['../..', 'a/..', './b', '../b', 'a/.', '././.', '../../../etc'])(
    'when a create names the model %j, then it answers 400 naming model, and nothing is written or queued',
    async (model) => {
      const before = { records: await h.generationCount(), jobs: await h.jobCount() };
      const reply = await client.request<ApiFailure>('POST', '/api/generations', { prompt: 'a cat', model });
      expect(reply.status).toBe(400);
      expect(reply.body.errors?.map((e) => e.field)).toEqual(['model']);
      expect({ records: await h.generationCount(), jobs: await h.jobCount() }).toEqual(before);
    },
  );

  test('when a model id only has dots inside its segments, then it is a model id like any other', async () => {
    const reply = await client.request('POST', '/api/generations', { prompt: 'a cat', model: 'a.b/c..d' });
    expect(reply.status).toBe(202);
  });
});
