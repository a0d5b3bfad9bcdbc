import { z } from 'zod';

/**
 * The Inference Providers that serve text-to-image behind Hugging Face's router. A model reaches one
 * only through the Hub's model → provider mapping (see `provider-mapping.ts`).
 */
export const HF_PROVIDERS = [
  'fal-ai',
  'hf-inference',
  'nscale',
  'replicate',
  'together',
  'wavespeed',
  'zai-org',
] as const;
export const HfProvider = z.enum(HF_PROVIDERS);
export type HfProvider = z.infer<typeof HfProvider>;

/** What a request may name as `provider`: one of Hugging Face's, or OpenAI Images. */
export const RequestedProvider = z.enum([...HF_PROVIDERS, 'openai']);
export type RequestedProvider = z.infer<typeof RequestedProvider>;

/**
 * Who served a generation (the record's `provider`): a requestable provider, a dedicated endpoint
 * (`HF_BASE_URL`), or the built-in local renderer of a deployment with no token.
 */
export const ServingProvider = z.enum([...HF_PROVIDERS, 'openai', 'hf-endpoint', 'local']);
export type ServingProvider = z.infer<typeof ServingProvider>;

/** The OpenAI Images models a request may name when it asks for `provider: "openai"`. */
export const OPENAI_MODELS = ['gpt-image-1', 'dall-e-3'] as const;
export const OpenAiModel = z.enum(OPENAI_MODELS);
export type OpenAiModel = z.infer<typeof OpenAiModel>;

/** A provider of a model, as `GET /api/models` lists it. */
export const ModelProvider = z.object({
  provider: ServingProvider,
  /** The provider's own name for the model (the mapping's `providerId`). */
  provider_id: z.string(),
  /** `staging` providers are listed only when no provider is `live`. */
  status: z.enum(['live', 'staging']),
});
export type ModelProvider = z.infer<typeof ModelProvider>;

/** A model a user may ask for, with the providers that serve it for text-to-image, in the order they are tried. */
export const ModelInfo = z.object({
  id: z.string(),
  /** True for the model of requests that name none (`HF_MODEL`). */
  default: z.boolean(),
  providers: z.array(ModelProvider),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

/** `GET /api/models`. */
export const ModelList = z.object({ items: z.array(ModelInfo) });
export type ModelList = z.infer<typeof ModelList>;
