import type { GenerationSettings } from '@imagegen/shared';
import { SETTINGS } from '../../../test/support/generation-settings';

export { SETTINGS };

/** Settings for `model`, with `overrides`: what a create with only a prompt and these fields stores. */
export const settingsFor = (model: string, overrides: Partial<GenerationSettings> = {}): GenerationSettings => ({
  ...SETTINGS,
  model,
  ...overrides,
});
