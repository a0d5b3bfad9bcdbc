import { makeImage } from '../../../test/support/hf-emulator';
import { HfFailure, classifyAnswer, type HfAnswer, type HfOutcome } from '../src/hf/hf-answer';

const MODEL = 'stable-diffusion-v1-5/stable-diffusion-v1-5';

function answer(status: number, body: string | Buffer, extra: Partial<HfAnswer> = {}): HfAnswer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return { status, contentType: 'application/json', retryAfter: undefined, body: bytes, ...extra };
}

function failureOf(outcome: HfOutcome): HfFailure {
  if (outcome.kind !== 'fail') throw new Error(`expected a failure, got ${JSON.stringify(outcome)}`);
  expect(outcome.failure).toBeInstanceOf(HfFailure);
  return outcome.failure;
}

describe('classifyAnswer', () => {
  describe('200', () => {
    test('when the body is a PNG, then it is an image/png of the PNG’s dimensions', () => {
      const bytes = makeImage('png', 64, 48);
      const outcome = classifyAnswer(MODEL, answer(200, bytes, { contentType: 'image/png' }));
      expect(outcome).toEqual({ kind: 'image', image: { bytes, mime_type: 'image/png', width: 64, height: 48 } });
    });

    test('when the body is a JPEG labelled as PNG, then the bytes win: image/jpeg of the JPEG’s dimensions', () => {
      const bytes = makeImage('jpeg', 40, 72);
      const outcome = classifyAnswer(MODEL, answer(200, bytes, { contentType: 'image/png' }));
      expect(outcome).toEqual({ kind: 'image', image: { bytes, mime_type: 'image/jpeg', width: 40, height: 72 } });
    });

    test('when the body is an HTML page, then it fails saying the answer was not an image', () => {
      const html = '<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>';
      const failure = failureOf(classifyAnswer(MODEL, answer(200, html, { contentType: 'text/html; charset=utf-8' })));
      expect(failure.status).toBe(200);
      expect(failure.message).toMatch(/not with an image/);
      expect(failure.message).toContain('text/html');
      expect(failure.message).toContain('Something went wrong');
      expect(failure.message).not.toContain('<h1>');
    });

    test('when the body is a PNG cut short (the length matched), then it is retried like a dropped connection', () => {
      const whole = makeImage('png', 64, 48);
      const outcome = classifyAnswer(MODEL, answer(200, whole.subarray(0, 100), { contentType: 'image/png' }));
      expect(outcome).toEqual({
        kind: 'retry',
        reason: { kind: 'network' },
        detail: 'the image/png answer was cut short (100 bytes)',
      });
    });

    test('when the body is empty, then it fails rather than storing nothing', () => {
      const failure = failureOf(classifyAnswer(MODEL, answer(200, '', { contentType: undefined })));
      expect(failure.message).toMatch(/not with an image \(no content-type\): empty body/);
    });

    test('when the body holds control characters, then the message shows them as U+FFFD (NUL cannot be stored)', () => {
      const bytes = Buffer.from('junk\u0000\u001b[2Jmore\u007f', 'utf8');
      const failure = failureOf(classifyAnswer(MODEL, answer(200, bytes, { contentType: 'image/png' })));
      expect(failure.message).toBe(
        'Hugging Face answered 200 but not with an image (image/png): junk\ufffd\ufffd[2Jmore\ufffd',
      );
    });

    test('when a JSON error holds control characters, then they are shown as U+FFFD but its lines are kept', () => {
      const body = JSON.stringify({ error: 'bad\u0000input\nsecond line\tindented' });
      const failure = failureOf(classifyAnswer(MODEL, answer(400, body)));
      expect(failure.message).toBe('Hugging Face rejected the request (400): bad\ufffdinput\nsecond line\tindented');
    });
  });

  describe('503', () => {
    test('when it carries estimated_time, then it is a cold-start retry with hintMs', () => {
      const body = JSON.stringify({ error: `Model ${MODEL} is currently loading`, estimated_time: 20.5 });
      const outcome = classifyAnswer(MODEL, answer(503, body));
      expect(outcome).toEqual({
        kind: 'retry',
        reason: { kind: 'cold-start', hintMs: 20_500 },
        detail: `model ${MODEL} is loading (about 21 s)`,
      });
    });

    test('when it carries no estimated_time, then it is a cold-start retry without a hint', () => {
      const outcome = classifyAnswer(MODEL, answer(503, JSON.stringify({ error: 'Service Unavailable' })));
      expect(outcome).toEqual({ kind: 'retry', reason: { kind: 'cold-start' }, detail: '503: Service Unavailable' });
    });

    test('when its body is not JSON, then it is still retried', () => {
      const outcome = classifyAnswer(MODEL, answer(503, 'upstream unavailable', { contentType: 'text/plain' }));
      expect(outcome).toMatchObject({ kind: 'retry', reason: { kind: 'cold-start' } });
      expect(outcome.kind === 'retry' && outcome.reason.hintMs).toBe(undefined);
    });
  });

  describe('429', () => {
    const body = JSON.stringify({ error: 'Rate limit reached. You reached free usage limit (reset hourly).' });

    test('when it carries Retry-After, then it is a rate-limited retry with that hint', () => {
      const outcome = classifyAnswer(MODEL, answer(429, body, { retryAfter: '7' }));
      expect(outcome).toEqual({
        kind: 'retry',
        reason: { kind: 'rate-limited', hintMs: 7_000 },
        detail: 'rate limited (429): Rate limit reached. You reached free usage limit (reset hourly).',
      });
    });

    test('when it carries no Retry-After, then it is a rate-limited retry without a hint', () => {
      const outcome = classifyAnswer(MODEL, answer(429, body));
      expect(outcome).toMatchObject({ kind: 'retry', reason: { kind: 'rate-limited' } });
      expect(outcome.kind === 'retry' && 'hintMs' in outcome.reason).toBe(false);
    });
  });

  describe('answers that retrying cannot change', () => {
    test('when it is 400, then it fails with what Hugging Face said', () => {
      const failure = failureOf(
        classifyAnswer(MODEL, answer(400, JSON.stringify({ error: ['bad width', 'bad height'] }))),
      );
      expect(failure.status).toBe(400);
      expect(failure.message).toBe('Hugging Face rejected the request (400): bad width; bad height');
    });

    test('when it is 401, then it fails blaming HF_TOKEN in the deployment’s configuration', () => {
      const failure = failureOf(
        classifyAnswer(MODEL, answer(401, JSON.stringify({ error: 'Invalid credentials in Authorization header' }))),
      );
      expect(failure.status).toBe(401);
      expect(failure.message).toMatch(/401/);
      expect(failure.message).toMatch(/HF_TOKEN/);
      expect(failure.message).toMatch(/configuration/);
    });

    test('when it is 402, then it fails saying the account is out of credits', () => {
      const said = 'You have exceeded your monthly included credits for Inference Providers.';
      const failure = failureOf(classifyAnswer(MODEL, answer(402, JSON.stringify({ error: said }))));
      expect(failure.status).toBe(402);
      expect(failure.message).toMatch(/out of credits/);
      expect(failure.message).toContain(said);
    });

    test('when it is 403, then it fails saying the token may not use the model', () => {
      const failure = failureOf(classifyAnswer(MODEL, answer(403, JSON.stringify({ error: 'gated repo' }))));
      expect(failure.status).toBe(403);
      expect(failure.message).toContain(`may not use model ${MODEL}`);
      expect(failure.message).toContain('gated repo');
    });

    test('when it is 404, then it fails naming the model', () => {
      const failure = failureOf(
        classifyAnswer(
          'runwayml/stable-diffusion-v1-5',
          answer(404, JSON.stringify({ error: 'Model runwayml/stable-diffusion-v1-5 does not exist' })),
        ),
      );
      expect(failure.status).toBe(404);
      expect(failure.message).toMatch(/^Model runwayml\/stable-diffusion-v1-5 was not found/);
    });

    test('when it is 410, then it fails blaming HF_BASE_URL in the deployment’s configuration and names the router', () => {
      const body = JSON.stringify({ error: 'https://api-inference.huggingface.co is no longer supported.' });
      const failure = failureOf(classifyAnswer(MODEL, answer(410, body)));
      expect(failure.status).toBe(410);
      expect(failure.message).toMatch(/HF_BASE_URL/);
      expect(failure.message).toMatch(/configuration/);
      expect(failure.message).toContain('https://router.huggingface.co/hf-inference/models');
    });

    test('when it is 422 in plain text, then it fails with that text', () => {
      const failure = failureOf(
        classifyAnswer(
          MODEL,
          answer(422, 'Input validation error: `inputs` must be non-empty', { contentType: 'text/plain' }),
        ),
      );
      expect(failure.status).toBe(422);
      expect(failure.message).toBe(
        'Hugging Face could not process the input (422): Input validation error: `inputs` must be non-empty',
      );
    });

    test('when it is 422 as JSON with error_type, then it fails with the error', () => {
      const body = JSON.stringify({ error: 'Input validation error', error_type: 'validation' });
      const failure = failureOf(classifyAnswer(MODEL, answer(422, body)));
      expect(failure.message).toBe('Hugging Face could not process the input (422): Input validation error');
    });

    test('when it is an unexpected 4xx, then it fails with the status', () => {
      const failure = failureOf(classifyAnswer(MODEL, answer(418, JSON.stringify({ error: 'teapot' }))));
      expect(failure.message).toBe('Hugging Face answered 418: teapot');
    });
  });

  describe('transient server errors', () => {
    test.each([500, 502, 504])('when it is %i, then it is a server-error retry', (status) => {
      const outcome = classifyAnswer(MODEL, answer(status, '', { contentType: 'text/plain' }));
      expect(outcome).toEqual({
        kind: 'retry',
        reason: { kind: 'server-error' },
        detail: `Hugging Face error ${status}: empty body`,
      });
    });
  });
});
