import type { ApiFailure } from '@imagegen/shared';
import type { ApiClient, Reply } from '../../../test/support/api-client';
import { startHarness, type Harness } from './api-harness';

const BODY_LIMIT_BYTES = 4096;
const ALLOWED_MODEL = 'acme/allowed-model';

describe('validation of POST /api/generations', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness({ BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES), HF_ALLOWED_MODELS: ALLOWED_MODEL });
    client = await h.user('validation@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Sends the request and checks that neither a record nor a job came of it. */
  async function refused(send: () => Promise<Reply<ApiFailure>>): Promise<Reply<ApiFailure>> {
    const before = await h.generationCount();
    const reply = await send();
    expect(reply.body).toMatchObject({ success: false, message: expect.any(String) });
    expect(await h.generationCount()).toBe(before);
    expect(await h.jobCount()).toBe(0);
    return reply;
  }

  const post = (body: unknown, headers: Record<string, string> = {}, path = '/api/generations') =>
    refused(() => client.request<ApiFailure>('POST', path, body, headers));
  const fields = (reply: Reply<ApiFailure>) => reply.body.errors?.map((e) => e.field) ?? [];

  test('when the body is malformed JSON, then it answers 400', async () => {
    const reply = await post('{"prompt": "a cat",');
    expect(reply.status).toBe(400);
    expect(reply.body.message).toMatch(/json/i);
  });

  test('when the body is malformed JSON on the trailing-slash path, then it answers 400', async () => {
    expect((await post('{prompt: a cat}', {}, '/api/generations/')).status).toBe(400);
  });

  test('when the body is a JSON array or a bare string, then it answers 400', async () => {
    expect((await post('[{"prompt": "a cat"}]')).status).toBe(400);
    expect((await post('"a cat"')).status).toBe(400);
  });

  test('when fields have the wrong types, then it answers 400 naming each of them', async () => {
    const reply = await post({ prompt: 42, width: '512', height: 512.5, seed: -1, style: 'sepia' });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(expect.arrayContaining(['prompt', 'width', 'height', 'seed', 'style']));
  });

  test('when the prompt is missing, then it answers 400 naming prompt', async () => {
    const reply = await post({ width: 512 });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['prompt']);
  });

  test('when an unknown field is sent, then it answers 400 naming that field', async () => {
    const reply = await post({ prompt: 'a cat', user_id: '65a1b2c3d4e5f6a7b8c9d0e1' });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['user_id']);
  });

  test('when the prompt is an operator object, then it answers 400 naming prompt', async () => {
    const reply = await post({ prompt: { $gt: '' } });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['prompt']);
  });

  test('when the prompt is empty or only whitespace, then it answers 400 naming prompt', async () => {
    for (const prompt of ['', '   ', '\n\t ']) {
      const reply = await post({ prompt }, {}, '/api/generations/');
      expect(reply.status).toBe(400);
      expect(fields(reply)).toEqual(['prompt']);
    }
  });

  test('when the prompt is longer than 2000 characters, then it answers 400 naming prompt', async () => {
    const reply = await post({ prompt: 'a'.repeat(2001) });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['prompt']);
  });

  test('when width is not a multiple of 8, then it answers 400 naming width', async () => {
    const reply = await post({ prompt: 'a cat', width: 513 });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['width']);
    expect(reply.body.errors?.[0]?.message).toMatch(/multiple of 8/);
  });

  test('when width or height is out of range, then it answers 400 naming it', async () => {
    for (const [body, field] of [
      [{ prompt: 'a cat', width: 248 }, 'width'],
      [{ prompt: 'a cat', width: 1032 }, 'width'],
      [{ prompt: 'a cat', height: 0 }, 'height'],
      [{ prompt: 'a cat', height: 4096 }, 'height'],
    ] as const) {
      const reply = await post(body);
      expect(reply.status).toBe(400);
      expect(fields(reply)).toEqual([field]);
    }
  });

  test('when the body is larger than BODY_LIMIT_BYTES, then it answers 413', async () => {
    const body = JSON.stringify({ prompt: 'a cat', negative_prompt: 'n'.repeat(BODY_LIMIT_BYTES) });
    expect(Buffer.byteLength(body)).toBeGreaterThan(BODY_LIMIT_BYTES);
    expect((await post(body)).status).toBe(413);
  });

  test('when the body is just under BODY_LIMIT_BYTES, then it is read and judged by the schema instead (400, not 413)', async () => {
    const body = JSON.stringify({ prompt: 'p'.repeat(BODY_LIMIT_BYTES - 100) });
    expect(Buffer.byteLength(body)).toBeLessThan(BODY_LIMIT_BYTES);
    const reply = await post(body);
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['prompt']);
  });

  test('when the content type is not JSON, then it answers 415', async () => {
    expect((await post('prompt=a+cat', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await post('{"prompt": "a cat"}', { 'content-type': 'text/plain' })).status).toBe(415);
  });

  test('when HF_ALLOWED_MODELS is set and another model is asked for, then it answers 422 naming model', async () => {
    const reply = await post({ prompt: 'a cat', model: 'evil/other-model' }, {}, '/api/generations/');
    // Well-formed, but not served here: 422, as every model and provider this deployment does not serve.
    expect(reply.status).toBe(422);
    expect(fields(reply)).toEqual(['model']);
    expect(reply.body.errors?.[0]?.message).toContain(ALLOWED_MODEL);
  });

  test('when the model is not a model id at all, then it answers 400 naming model', async () => {
    const reply = await post({ prompt: 'a cat', model: '../../etc/passwd' });
    expect(reply.status).toBe(400);
    expect(fields(reply)).toEqual(['model']);
  });

  test('when the request is not authenticated, then it answers 401 before anything is written', async () => {
    const reply = await refused(() =>
      h.anonymous.request<ApiFailure>('POST', '/api/generations/', { prompt: 'a cat' }),
    );
    expect(reply.status).toBe(401);
  });
});
