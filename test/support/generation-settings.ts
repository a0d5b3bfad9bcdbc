import type { GenerationSettings } from '@imagegen/shared';

/** Settings of a generation in tests that write records themselves. */
export const SETTINGS: GenerationSettings = {
  width: 256,
  height: 256,
  model: 'a/b',
  provider: null,
  style: null,
  negative_prompt: null,
  num_inference_steps: null,
  guidance_scale: null,
  seed: null,
  num_images: 1,
};
