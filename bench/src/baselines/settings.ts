import type { GenerationSettings } from '@imagegen/shared';

/** The settings the API gives a request that names only a prompt (the seed's shape). */
export const DEFAULT_SETTINGS: GenerationSettings = {
  width: 512,
  height: 512,
  model: 'bench/model',
  provider: null,
  style: null,
  negative_prompt: null,
  num_inference_steps: null,
  guidance_scale: null,
  seed: null,
  num_images: 1,
};
