import type { GenerationSettings, ServingProvider } from '@imagegen/shared';
import type { HfOutcome } from '../hf/hf-answer';

/** What one request to a provider asks it to draw. */
export interface ProviderJob {
  /** The prompt as the model should see it (style words included). */
  prompt: string;
  /** The generation's settings, with the seed of this request's first image (see `imageSeed`). */
  settings: GenerationSettings;
  /** The provider's own name for the model: the mapping's `providerId` (the Hub id for hf-inference). */
  providerId: string;
  /** How many images this request asks for: 1, unless the provider takes a count (`imagesPerRequest`). */
  images: number;
}

/** One HTTP request an adapter wants sent; it comes back with its answer to `read`. */
export interface ProviderRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Which step of the provider's protocol this is (submit, status, result, …). */
  stage: string;
  /** What the adapter needs to read the answer (e.g. the queued job's path), so adapters keep no state. */
  context?: string;
}

/** A 2xx answer, its body read whole (within HF_MAX_IMAGE_BYTES). */
export interface ProviderAnswer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

/** One image of an answer: its bytes, or the URL it is at (on another host, fetched with no credentials). */
export type ImageRef = { bytes: Buffer } | { url: string };

/** What follows an answer. */
export type Followup =
  /** The answer gave the images, in order: all of them, or as many as it had. */
  | { kind: 'images'; images: ImageRef[] }
  /**
   * The provider queued the job: ask `request` after `afterMs`. `cancel`, where the provider has
   * one, withdraws the queued job when we stop waiting for it.
   */
  | { kind: 'poll'; request: ProviderRequest; afterMs: number; cancel?: ProviderRequest }
  /** The provider ran the job and it failed: another provider may do better. */
  | { kind: 'job-failed'; detail: string };

/** An answer that does not have the shape the provider documents. */
export class MalformedAnswer extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'MalformedAnswer';
  }
}

/**
 * One provider's protocol: the request that starts a job, and how to read each answer until an
 * image (or its URL) comes back. Retries, polling, budgets, cancels and downloads are the caller's
 * (`ProviderClient`), the same for every provider.
 */
export interface ProviderAdapter {
  readonly name: ServingProvider;
  /** Requests to this origin carry our credentials; no other request does. */
  readonly origin: string;
  /**
   * The most images one request for `providerId` may ask for, where the provider takes a count (fal's
   * `num_images`, OpenAI's `n`); left out, 1: each image is a request of its own.
   */
  imagesPerRequest?(providerId: string): number;
  submit(job: ProviderJob): ProviderRequest;
  read(answer: ProviderAnswer, request: ProviderRequest): Followup;
  /** What a non-2xx answer to `request` means, where the provider differs from Hugging Face's router. */
  classify?(answer: ProviderAnswer, job: ProviderJob, request: ProviderRequest): HfOutcome | undefined;
}

/** The answer's body as JSON; a MalformedAnswer naming `who` when it is not. */
export function jsonOf(answer: ProviderAnswer, who: string): Record<string, unknown> {
  try {
    const json: unknown = JSON.parse(answer.body.toString('utf8'));
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new MalformedAnswer(`${who} answered ${answer.status} without a JSON object`);
}

/** The images of a `{data: [{b64_json} | {url}, …]}` answer (OpenAI's shape, which nscale and together share). */
export function imagesOfData(json: Record<string, unknown>, who: string): Followup {
  const data: unknown[] = Array.isArray(json.data) ? json.data : [];
  const images = data.map((entry, i): ImageRef => {
    const { b64_json, url } = (entry ?? {}) as { b64_json?: unknown; url?: unknown };
    if (typeof b64_json === 'string') return { bytes: Buffer.from(b64_json, 'base64') };
    if (typeof url === 'string') return { url };
    throw new MalformedAnswer(`${who} answered without data[${i}].b64_json or data[${i}].url`);
  });
  if (images.length === 0) throw new MalformedAnswer(`${who} answered without data[0].b64_json or data[0].url`);
  return { kind: 'images', images };
}

/** The URLs of `list` (a provider's outputs) as images; a MalformedAnswer saying `what` when it holds none. */
export function imagesAt(list: unknown, what: string): Followup {
  const urls = Array.isArray(list) ? list : [];
  if (urls.length === 0 || !urls.every((url): url is string => typeof url === 'string'))
    throw new MalformedAnswer(what);
  return { kind: 'images', images: urls.map((url) => ({ url })) };
}

/** A count parameter only when more than one image is asked, so a request for one stays as it always was. */
export const countOf = (name: string, job: ProviderJob): Record<string, number> =>
  job.images > 1 ? { [name]: job.images } : {};

/** `WxH` from the settings. */
export const sizeOf = (settings: GenerationSettings, separator = 'x') =>
  `${settings.width}${separator}${settings.height}`;

/**
 * The optional settings under the text-to-image spec's names (huggingface.js
 * `text-to-image/spec/input.json`), which most providers take as they are; those not set are left out.
 */
export const specParameters = (settings: GenerationSettings) =>
  optional({
    negative_prompt: settings.negative_prompt,
    num_inference_steps: settings.num_inference_steps,
    guidance_scale: settings.guidance_scale,
    seed: settings.seed,
  });

/** The optional settings a provider takes under its own names: those not set are left out, never sent as null. */
export function optional(entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(entries).filter(([, value]) => value !== null && value !== undefined && value !== ''),
  );
}

/** The path of a URL the provider gave (its own host), to be asked through the router instead. */
export function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname;
}
