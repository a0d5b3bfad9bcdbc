import { countOf, imagesOfData, jsonOf, optional, sizeOf, type ProviderAdapter } from './adapter';

/** together's images API takes `n` from 1 to 4. */
const TOGETHER_MOST_IMAGES = 4;

/**
 * nscale and together: OpenAI-style `POST /v1/images/generations` answering `{data: [{b64_json}, …]}`.
 * - nscale takes the size as `size: "WxH"`; huggingface_hub drops steps and guidance for it, as we do.
 *   Whether it honours `n` is not documented: each image is a request of its own.
 * - together takes `width`, `height` and `steps`, `response_format: "base64"`, and `n` images.
 */
export function nscale(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  return {
    name: 'nscale',
    origin: new URL(routerUrl).origin,
    submit: ({ prompt, settings, providerId }) => ({
      method: 'POST',
      url: `${routerUrl}/nscale/v1/images/generations`,
      headers,
      body: {
        model: providerId,
        prompt,
        response_format: 'b64_json',
        size: sizeOf(settings),
        ...optional({ negative_prompt: settings.negative_prompt, seed: settings.seed }),
      },
      stage: 'submit',
    }),
    read: (answer) => imagesOfData(jsonOf(answer, 'nscale'), 'nscale'),
  };
}

export function together(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  return {
    name: 'together',
    origin: new URL(routerUrl).origin,
    imagesPerRequest: () => TOGETHER_MOST_IMAGES,
    submit: (job) => ({
      method: 'POST',
      url: `${routerUrl}/together/v1/images/generations`,
      headers,
      body: {
        model: job.providerId,
        prompt: job.prompt,
        response_format: 'base64',
        width: job.settings.width,
        height: job.settings.height,
        ...optional({
          steps: job.settings.num_inference_steps,
          guidance_scale: job.settings.guidance_scale,
          negative_prompt: job.settings.negative_prompt,
          seed: job.settings.seed,
        }),
        ...countOf('n', job),
      },
      stage: 'submit',
    }),
    read: (answer) => imagesOfData(jsonOf(answer, 'together'), 'together'),
  };
}
