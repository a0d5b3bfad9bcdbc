import type { GenerationSettings } from '@imagegen/shared';
import { classifyOpenAi, openAiSize } from '../src/providers/openai';
import type { ProviderAnswer, ProviderJob } from '../src/providers/adapter';

const settings: GenerationSettings = {
  width: 1024,
  height: 1024,
  model: 'gpt-image-1',
  provider: 'openai',
  style: null,
  negative_prompt: null,
  num_inference_steps: null,
  guidance_scale: null,
  seed: null,
  num_images: 1,
};
const job: ProviderJob = { prompt: 'a cat', settings, providerId: 'gpt-image-1', images: 1 };

function answer(status: number, body: unknown, headers: Record<string, string> = {}): ProviderAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify(body)),
  };
}
const error = (message: string, code: string | null, type = 'invalid_request_error') => ({
  error: { message, type, param: null, code },
});

describe('OpenAI Images: sizes and retry rules', () => {
  test.each([
    ['gpt-image-1', 512, 512, '1024x1024'],
    ['gpt-image-1', 1024, 768, '1536x1024'],
    ['gpt-image-1', 512, 1024, '1024x1536'],
    ['dall-e-3', 1024, 576, '1792x1024'],
    ['dall-e-3', 576, 1024, '1024x1792'],
    ['dall-e-3', 640, 512, '1024x1024'],
  ] as const)('when %s is asked for %i×%i, then it is sent the nearest size it draws, %s', (model, w, h, size) => {
    expect(openAiSize(model, w, h)).toBe(size);
  });

  test('when OpenAI answers 429 insufficient_quota, then it fails at once saying the quota is spent', () => {
    const outcome = classifyOpenAi(answer(429, error('You exceeded your current quota', 'insufficient_quota')), job);
    expect(outcome.kind).toBe('fail');
    expect(outcome.kind === 'fail' && outcome.failure.message).toMatch(/out of quota \(429 insufficient_quota\)/);
  });

  test('when OpenAI answers 429 with retry-after-ms, then it is retried after that long', () => {
    const outcome = classifyOpenAi(
      answer(429, error('Rate limit reached', 'rate_limit_exceeded', 'requests'), { 'retry-after-ms': '1500' }),
      job,
    );
    expect(outcome).toMatchObject({ kind: 'retry', reason: { kind: 'rate-limited', hintMs: 1500 } });
  });

  test('when OpenAI answers 503 with retry-after in seconds, then it is retried after that long', () => {
    const outcome = classifyOpenAi(answer(503, error('overloaded', null, 'server_error'), { 'retry-after': '2' }), job);
    expect(outcome).toMatchObject({ kind: 'retry', reason: { kind: 'server-error', hintMs: 2000 } });
  });

  test.each([408, 409, 500, 502])('when OpenAI answers %i, then it is retried', (status) => {
    expect(classifyOpenAi(answer(status, error('try again', null, 'server_error')), job).kind).toBe('retry');
  });

  test('when x-should-retry says false, then even a 500 is not retried', () => {
    const outcome = classifyOpenAi(
      answer(500, error('broken', null, 'server_error'), { 'x-should-retry': 'false' }),
      job,
    );
    expect(outcome.kind).toBe('fail');
  });

  test('when x-should-retry says true, then even a 400 is retried', () => {
    const outcome = classifyOpenAi(answer(400, error('transient', null), { 'x-should-retry': 'true' }), job);
    expect(outcome.kind).toBe('retry');
  });

  test('when OpenAI answers 401, then it fails naming OPENAI_API_KEY', () => {
    const outcome = classifyOpenAi(answer(401, error('Incorrect API key provided', 'invalid_api_key')), job);
    expect(outcome.kind === 'fail' && outcome.failure.message).toMatch(/OPENAI_API_KEY/);
  });

  test('when OpenAI rejects the prompt (400), then it fails with what OpenAI said', () => {
    const outcome = classifyOpenAi(
      answer(400, error('Your request was rejected by the safety system', 'content_policy_violation')),
      job,
    );
    expect(outcome.kind === 'fail' && outcome.failure.message).toBe(
      'OpenAI rejected the request (400): Your request was rejected by the safety system',
    );
  });
});
