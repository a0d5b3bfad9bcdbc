import { imageOfData, jsonOf, optional, sizeOf, type ProviderAdapter } from './adapter';

/**
 * nscale and together: OpenAI-style `POST /v1/images/generations` answering `{data: [{b64_json}]}`.
 * - nscale takes the size as `size: "WxH"`; huggingface_hub drops steps and guidance for it, as we do.
 * - together takes `width`, `height` and `steps`, and `response_format: "base64"`.
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
    read: (answer) => imageOfData(jsonOf(answer, 'nscale'), 'nscale'),
  };
}

export function together(routerUrl: string, headers: Record<string, string> = {}): ProviderAdapter {
  return {
    name: 'together',
    origin: new URL(routerUrl).origin,
    submit: ({ prompt, settings, providerId }) => ({
      method: 'POST',
      url: `${routerUrl}/together/v1/images/generations`,
      headers,
      body: {
        model: providerId,
        prompt,
        response_format: 'base64',
        width: settings.width,
        height: settings.height,
        ...optional({
          steps: settings.num_inference_steps,
          guidance_scale: settings.guidance_scale,
          negative_prompt: settings.negative_prompt,
          seed: settings.seed,
        }),
      },
      stage: 'submit',
    }),
    read: (answer) => imageOfData(jsonOf(answer, 'together'), 'together'),
  };
}
