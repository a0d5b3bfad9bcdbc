import {
  MalformedAnswer,
  imagesAt,
  imagesOfData,
  jsonOf,
  specParameters,
  type Followup,
  type ProviderAdapter,
  type ProviderJob,
} from './adapter';

/** The text-to-image body of the hf-inference shape (huggingface.js `text-to-image/spec/input.json`). */
export function hfInferenceBody({ prompt, settings }: ProviderJob) {
  return {
    inputs: prompt,
    parameters: {
      width: settings.width,
      height: settings.height,
      ...specParameters(settings),
    },
  };
}

/**
 * hf-inference: `POST {base}/{model}` answers the image bytes. The router's hf-inference route and a
 * dedicated endpoint (`HF_BASE_URL`, `name` hf-endpoint) speak it alike. The spec's parameters have
 * no count: each image is a request of its own.
 */
export function hfInference(
  base: string,
  name: 'hf-inference' | 'hf-endpoint',
  headers: Record<string, string> = {},
): ProviderAdapter {
  return {
    name,
    origin: new URL(base).origin,
    submit: (job) => ({
      method: 'POST',
      url: `${base}/${job.providerId}`,
      headers: { accept: 'image/png, image/jpeg, image/webp, application/json;q=0.5', ...headers },
      body: hfInferenceBody(job),
      stage: 'submit',
    }),
    read(answer) {
      // Bytes, as a rule; huggingface.js also reads a JSON answer of base64 data or an output URL.
      const type = answer.headers['content-type'] ?? '';
      const bytes: Followup = { kind: 'images', images: [{ bytes: answer.body }] };
      if (!type.includes('json')) return bytes;
      let json: Record<string, unknown>;
      try {
        json = jsonOf(answer, name);
      } catch {
        return bytes;
      }
      if (Array.isArray(json.output) && typeof json.output[0] === 'string') {
        return imagesAt(json.output, `${name} answered an output that is not a list of URLs`);
      }
      if (Array.isArray(json.data)) return imagesOfData(json, name);
      // Sniffing the body names what came instead of an image.
      if (answer.body.length > 0) return bytes;
      throw new MalformedAnswer(`${name} answered ${answer.status} with an empty body`);
    },
  };
}
