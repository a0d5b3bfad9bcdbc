import { MalformedAnswer, imagesAt, jsonOf, specParameters, sizeOf, type ProviderAdapter } from './adapter';

/** huggingface.js `providers/zai-org.ts` polls every 5 s. */
const POLL_MS = 5000;

/**
 * zai-org: `POST /api/paas/v4/async/images/generations` `{model, prompt, size: "WxH"}` →
 * `{id, task_status}`; poll `/api/paas/v4/async-result/{id}` until `SUCCESS` (image at
 * `image_result[0].url`) or `FAIL`. Both carry the headers huggingface.js sends. No count is
 * documented: each image is a task of its own.
 */
export function zaiOrg(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  const base = `${routerUrl}/zai-org/api/paas/v4`;
  const zaiHeaders = { ...headers, 'x-source-channel': 'hugging_face', 'accept-language': 'en-US,en' };
  return {
    name: 'zai-org',
    origin: new URL(routerUrl).origin,
    submit: ({ prompt, settings, providerId }) => ({
      method: 'POST',
      url: `${base}/async/images/generations`,
      headers: zaiHeaders,
      // The other settings go as huggingface_hub passes them; whether z.ai reads them is unconfirmed.
      body: {
        model: providerId,
        prompt,
        size: sizeOf(settings),
        ...specParameters(settings),
      },
      stage: 'submit',
    }),
    read(answer, request) {
      const json = jsonOf(answer, 'zai-org');
      const id = request.stage === 'submit' ? json.id : request.context;
      if (json.task_status === 'SUCCESS') {
        const results: unknown[] = Array.isArray(json.image_result) ? json.image_result : [];
        const urls = results.map((result) => (result as { url?: unknown } | null)?.url);
        return imagesAt(urls, 'zai-org succeeded without image_result[0].url');
      }
      if (json.task_status === 'FAIL') {
        const error = json.error as { message?: unknown } | string | undefined;
        const reason = typeof error === 'string' ? error : error?.message;
        return { kind: 'job-failed', detail: `task failed: ${String(reason ?? 'no reason given')}` };
      }
      if (typeof id !== 'string') throw new MalformedAnswer('zai-org answered its submit without id');
      return {
        kind: 'poll',
        request: {
          method: 'GET',
          url: `${base}/async-result/${id}`,
          headers: zaiHeaders,
          stage: 'result',
          context: id,
        },
        afterMs: POLL_MS,
      };
    },
  };
}
