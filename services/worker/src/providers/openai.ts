import type { OpenAiModel } from '@imagegen/shared';
import { HfFailure, errorText, type HfOutcome } from '../hf/hf-answer';
import { parseRetryAfter } from '../retry-after';
import { imagesOfData, jsonOf, type ProviderAdapter, type ProviderAnswer, type ProviderJob } from './adapter';

/** The sizes each model draws (OpenAI's images API reference). */
const SIZES: Record<OpenAiModel, [number, number][]> = {
  'gpt-image-1': [
    [1024, 1024],
    [1536, 1024],
    [1024, 1536],
  ],
  'dall-e-3': [
    [1024, 1024],
    [1792, 1024],
    [1024, 1792],
  ],
};

/** The size of `model` nearest to the asked one in shape (aspect ratio); the record's image says what came back. */
export function openAiSize(model: OpenAiModel, width: number, height: number): string {
  const wanted = Math.log(width / height);
  const [w, h] = SIZES[model].reduce((best, size) =>
    Math.abs(Math.log(size[0] / size[1]) - wanted) < Math.abs(Math.log(best[0] / best[1]) - wanted) ? size : best,
  );
  return `${w}x${h}`;
}

const openAiModel = (providerId: string): OpenAiModel => (providerId === 'dall-e-3' ? 'dall-e-3' : 'gpt-image-1');

/** The images one request may ask for (`n`): 1 to 10, and dall-e-3 draws only one. */
const MOST_IMAGES: Record<OpenAiModel, number> = { 'gpt-image-1': 10, 'dall-e-3': 1 };

/**
 * OpenAI Images: `POST {OPENAI_BASE_URL}/images/generations`, answered at once with
 * `{data: [{b64_json}, …]}`, `n` of them. GPT image models always answer base64; dall-e-3 is asked for it.
 */
export function openAi(baseUrl: string): ProviderAdapter {
  return {
    name: 'openai',
    origin: new URL(baseUrl).origin,
    imagesPerRequest: (providerId) => MOST_IMAGES[openAiModel(providerId)],
    submit(job) {
      const model = openAiModel(job.providerId);
      return {
        method: 'POST',
        url: `${baseUrl}/images/generations`,
        body: {
          model,
          prompt: job.prompt,
          n: job.images,
          size: openAiSize(model, job.settings.width, job.settings.height),
          ...(model === 'dall-e-3' && { response_format: 'b64_json' }),
        },
        stage: 'submit',
      };
    },
    read: (answer) => imagesOfData(jsonOf(answer, 'OpenAI'), 'OpenAI'),
    classify: classifyOpenAi,
  };
}

/**
 * OpenAI's own retry rules (as its SDK applies them): `x-should-retry` decides when present; else
 * 408, 409, 429 and 5xx are retried, after `retry-after-ms` or `retry-after` when given. A 429
 * `insufficient_quota` is billing, not load: it fails at once.
 */
export function classifyOpenAi(answer: ProviderAnswer, job: ProviderJob): HfOutcome {
  const { status } = answer;
  const said = errorText(answer.body);
  const code = errorCode(answer.body);
  const fail = (message: string): HfOutcome => ({ kind: 'fail', failure: new HfFailure(message, status) });
  if (status === 429 && code === 'insufficient_quota') {
    return fail(
      `The OpenAI account is out of quota (429 insufficient_quota): ${said}; add credits to the OpenAI account`,
    );
  }
  if (status === 401)
    return fail(`OpenAI refused the key (401: ${said}): OPENAI_API_KEY in this deployment's configuration is invalid`);
  const shouldRetry = answer.headers['x-should-retry'];
  const retryable =
    shouldRetry !== undefined ? shouldRetry === 'true' : [408, 409, 429].includes(status) || status >= 500;
  if (retryable) {
    const hint =
      Number(answer.headers['retry-after-ms']) > 0
        ? Number(answer.headers['retry-after-ms'])
        : parseRetryAfter(answer.headers['retry-after']);
    return {
      kind: 'retry',
      reason: { kind: status === 429 ? 'rate-limited' : 'server-error', ...(hint !== undefined && { hintMs: hint }) },
      detail: `OpenAI answered ${status}: ${said}`,
    };
  }
  if (status === 400) return fail(`OpenAI rejected the request (400): ${said}`);
  if (status === 403) return fail(`OpenAI refused model ${job.providerId} to this key (403): ${said}`);
  return fail(`OpenAI answered ${status}: ${said}`);
}

function errorCode(body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; type?: unknown } };
    const code = json.error?.code ?? json.error?.type;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
