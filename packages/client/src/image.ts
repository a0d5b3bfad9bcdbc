import type { Generation } from '@imagegen/shared';

/** An image's bytes, with the MIME type the API gave them. */
export interface Image {
  mimeType: string;
  bytes: Uint8Array;
}

/** The image of a completed generation, from its `image_url` data URL. */
export function imageOf(generation: Pick<Generation, 'image_url'>): Image {
  const match = /^data:([^;,]+);base64,(.*)$/.exec(generation.image_url ?? '');
  if (!match) throw new TypeError('The generation has no image (it is not completed)');
  const binary = atob(match[2] ?? '');
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return { mimeType: match[1] ?? '', bytes };
}
