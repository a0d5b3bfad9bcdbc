/**
 * Named style presets. Each adds its words to the prompt the model sees; the stored prompt stays the
 * user's own.
 */
export const STYLE_PRESETS = {
  photographic: 'photographic, natural lighting, sharp focus, highly detailed',
  'digital-art': 'digital art, vibrant colors, trending on artstation, highly detailed',
  anime: 'anime style, cel shading, clean line art',
  'oil-painting': 'oil painting, visible brush strokes, rich texture',
  watercolor: 'watercolor painting, soft washes, paper texture',
  cinematic: 'cinematic still, dramatic lighting, shallow depth of field, film grain',
} as const;

export type StyleName = keyof typeof STYLE_PRESETS;
export const STYLE_NAMES = Object.keys(STYLE_PRESETS) as [StyleName, ...StyleName[]];

/** The prompt sent to the model: the user's prompt followed by the preset's words. */
export function styledPrompt(prompt: string, style: StyleName | null): string {
  return style ? `${prompt}, ${STYLE_PRESETS[style]}` : prompt;
}
