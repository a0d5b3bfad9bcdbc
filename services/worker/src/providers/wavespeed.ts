import {
  MalformedAnswer,
  jsonOf,
  specParameters,
  pathOf,
  sizeOf,
  type ImageRef,
  type ProviderAdapter,
} from './adapter';

/** huggingface.js `providers/wavespeed.ts` polls every 500 ms. */
const POLL_MS = 500;

/**
 * wavespeed: `POST /api/v3/{providerId}` → `{data: {id, urls: {get}}}`; poll that URL's path through
 * the router until `data.status` is `completed` (image at `data.outputs[0]`) or `failed`
 * (`data.error`). Its API takes the size as `"W*H"`, and no count: each image is a job of its own.
 */
export function wavespeed(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  const base = `${routerUrl}/wavespeed`;
  return {
    name: 'wavespeed',
    origin: new URL(routerUrl).origin,
    submit: ({ prompt, settings, providerId }) => ({
      method: 'POST',
      url: `${base}/api/v3/${providerId}`,
      headers,
      body: {
        prompt,
        size: sizeOf(settings, '*'),
        ...specParameters(settings),
      },
      stage: 'submit',
    }),
    read(answer, request) {
      const data = jsonOf(answer, 'wavespeed').data as Record<string, unknown> | undefined;
      if (!data || typeof data !== 'object') throw new MalformedAnswer('wavespeed answered without data');
      let resultPath = request.context;
      if (request.stage === 'submit') {
        const get = (data.urls as { get?: unknown } | undefined)?.get;
        if (typeof get !== 'string') throw new MalformedAnswer('wavespeed answered its submit without data.urls.get');
        resultPath = pathOf(get);
      } else if (data.status === 'completed') {
        const outputs: unknown[] = Array.isArray(data.outputs) ? data.outputs : [];
        if (outputs.length === 0 || !outputs.every((output): output is string => typeof output === 'string')) {
          throw new MalformedAnswer('wavespeed completed without data.outputs[0]');
        }
        const images = outputs.map((output): ImageRef =>
          output.startsWith('data:') || /^https?:/.test(output)
            ? { url: output }
            : { bytes: Buffer.from(output, 'base64') },
        );
        return { kind: 'images', images };
      } else if (data.status === 'failed') {
        return { kind: 'job-failed', detail: `job failed: ${String(data.error ?? 'no reason given')}` };
      }
      if (!resultPath) throw new MalformedAnswer('wavespeed: no job to follow');
      return {
        kind: 'poll',
        request: { method: 'GET', url: `${base}${resultPath}`, headers, stage: 'result', context: resultPath },
        afterMs: POLL_MS,
      };
    },
  };
}
