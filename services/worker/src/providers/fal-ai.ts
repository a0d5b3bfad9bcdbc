import { errorText } from '../hf/hf-answer';
import {
  MalformedAnswer,
  countOf,
  imagesAt,
  jsonOf,
  specParameters,
  pathOf,
  type ProviderAdapter,
  type ProviderRequest,
} from './adapter';

/** huggingface.js `providers/fal-ai.ts` polls every 500 ms. */
const POLL_MS = 500;

/** fal's text-to-image apps (FLUX among them) take `num_images` from 1 to 4. */
const MOST_IMAGES = 4;

/**
 * fal-ai through the router's queue: submit → `{request_id, response_url}`; poll
 * `{response path}/status` until `COMPLETED`; read the result `{images: [{url}, …]}`; download them.
 * fal's schemas take the size as `image_size: {width, height}`, and several images as `num_images`.
 */
export function falAi(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  const base = `${routerUrl}/fal-ai`;
  const queued = (path: string, stage: string, method: ProviderRequest['method'] = 'GET'): ProviderRequest => ({
    method,
    url: `${base}${path}${stage === 'cancel' ? '/cancel' : stage === 'status' ? '/status' : ''}?_subdomain=queue`,
    headers,
    stage,
    context: path,
  });
  return {
    name: 'fal-ai',
    origin: new URL(routerUrl).origin,
    imagesPerRequest: () => MOST_IMAGES,
    submit: (job) => ({
      ...queued(`/${job.providerId}`, 'submit', 'POST'),
      body: {
        prompt: job.prompt,
        image_size: { width: job.settings.width, height: job.settings.height },
        ...specParameters(job.settings),
        ...countOf('num_images', job),
      },
    }),
    read(answer, request) {
      const json = jsonOf(answer, 'fal-ai');
      if (request.stage === 'result') {
        const images: unknown[] = Array.isArray(json.images) ? json.images : [];
        const urls = images.map((image) => (image as { url?: unknown } | null)?.url);
        return imagesAt(urls, 'fal-ai answered its result without images[].url');
      }
      // The app id in response_url may differ from the providerId that was asked for: its path is
      // where the job's status and result are.
      let path = request.context;
      if (request.stage === 'submit') {
        if (typeof json.response_url !== 'string') {
          throw new MalformedAnswer('fal-ai answered its queue submit without response_url');
        }
        path = pathOf(json.response_url);
      }
      if (!path) throw new MalformedAnswer('fal-ai: no queued job to follow');
      const cancel = queued(path, 'cancel', 'PUT');
      if (request.stage === 'status' && json.status === 'COMPLETED') {
        return { kind: 'poll', request: queued(path, 'result'), afterMs: 0, cancel };
      }
      return { kind: 'poll', request: queued(path, 'status'), afterMs: POLL_MS, cancel };
    },
    classify(answer, _job, request) {
      // The result of a request fal ran and failed is its error, marked with `x-fal-error-type`:
      // asking again gives the same answer. A 422 is the input's fault; any other, fal's.
      const errorType = answer.headers['x-fal-error-type'];
      if (request.stage !== 'result' || !errorType || answer.status === 422) return undefined;
      return { kind: 'move-on', detail: `the job failed (${answer.status} ${errorType}): ${errorText(answer.body)}` };
    },
  };
}
