import {
  MalformedAnswer,
  imagesAt,
  jsonOf,
  optional,
  type Followup,
  type ProviderAdapter,
  type ProviderRequest,
} from './adapter';

/** Between polls of a prediction `Prefer: wait` did not see finished. */
const POLL_MS = 1000;

/** The aspect ratios Replicate's FLUX models take instead of a size. */
const ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'];

function aspectRatio(width: number, height: number): string | null {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const d = gcd(width, height);
  const ratio = `${width / d}:${height / d}`;
  return ASPECT_RATIOS.includes(ratio) ? ratio : null;
}

/**
 * replicate: `POST /v1/models/{owner}/{name}/predictions` (or `/v1/predictions` with a `version` when
 * the providerId is `owner/name:version`) with `Prefer: wait`, which holds the answer until the
 * prediction ends (about 60 s at most). A prediction still running is polled at
 * `/v1/predictions/{id}`: huggingface.js does not, and that route through the router is unconfirmed.
 * The prediction's `output` is a URL, or a list of them. Models name their count differently
 * (`num_outputs`, or none), so each image is a prediction of its own. FLUX models there take `aspect_ratio` and
 * `guidance` where others take width, height and `guidance_scale`: both are sent, and each model
 * reads the names it knows (Replicate drops inputs a model's schema does not name).
 */
export function replicate(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  const base = `${routerUrl}/replicate/v1`;
  const prediction = (id: string, stage: 'status' | 'cancel'): ProviderRequest => ({
    method: stage === 'cancel' ? 'POST' : 'GET',
    url: stage === 'cancel' ? `${base}/predictions/${id}/cancel` : `${base}/predictions/${id}`,
    headers,
    stage,
  });
  return {
    name: 'replicate',
    origin: new URL(routerUrl).origin,
    submit({ prompt, settings, providerId }) {
      const [model, version] = providerId.split(':');
      return {
        method: 'POST',
        url: version ? `${base}/predictions` : `${base}/models/${model}/predictions`,
        headers: { ...headers, prefer: 'wait' },
        body: {
          input: {
            prompt,
            width: settings.width,
            height: settings.height,
            ...optional({
              aspect_ratio: aspectRatio(settings.width, settings.height),
              negative_prompt: settings.negative_prompt,
              num_inference_steps: settings.num_inference_steps,
              guidance: settings.guidance_scale,
              guidance_scale: settings.guidance_scale,
              seed: settings.seed,
            }),
          },
          ...(version && { version }),
        },
        stage: 'submit',
      };
    },
    read(answer): Followup {
      const json = jsonOf(answer, 'replicate');
      const outputs: unknown[] = Array.isArray(json.output) ? json.output : [json.output];
      if (typeof outputs[0] === 'string') return imagesAt(outputs, 'replicate answered an output that is not URLs');
      if (json.status === 'failed' || json.status === 'canceled') {
        return {
          kind: 'job-failed',
          detail: `prediction ${String(json.status)}: ${String(json.error ?? 'no reason given')}`,
        };
      }
      if (typeof json.id !== 'string')
        throw new MalformedAnswer('replicate answered a prediction without id or output');
      return {
        kind: 'poll',
        request: prediction(json.id, 'status'),
        afterMs: POLL_MS,
        cancel: prediction(json.id, 'cancel'),
      };
    },
  };
}
