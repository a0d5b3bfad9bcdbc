import {
  MalformedAnswer,
  imageOfData,
  jsonOf,
  specParameters,
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
 * dedicated endpoint (`HF_BASE_URL`, `name` hf-endpoint) speak it alike.
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
      if (!type.includes('json')) return { kind: 'image', bytes: answer.body };
      let json: Record<string, unknown>;
      try {
        json = jsonOf(answer, name);
      } catch {
        return { kind: 'image', bytes: answer.body };
      }
      if (Array.isArray(json.output) && typeof json.output[0] === 'string') {
        return { kind: 'download', url: json.output[0] };
      }
      if (Array.isArray(json.data)) return imageOfData(json, name);
      // Sniffing the body names what came instead of an image.
      if (answer.body.length > 0) return { kind: 'image', bytes: answer.body };
      throw new MalformedAnswer(`${name} answered ${answer.status} with an empty body`);
    },
  };
}
