import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { PNG } from 'pngjs';
import { imagesAsked, type GenerationSettings } from '@imagegen/shared';
import type { ImageSource, RenderOptions, RenderRequest, RenderedImages } from './image-source';
import { imageSeed } from './image-seed';
import { sniffImage, type SniffedImage } from './sniff';

/**
 * Draws deterministic PNGs from the prompt and settings, for running the system with no Hugging
 * Face account (never in production). The same request always gives the same pictures; each image
 * of a generation differs from the others, by its seed (`seed + i`) when one is set, else by its place.
 */
export class LocalRenderer implements ImageSource {
  readonly description = 'the built-in local renderer (no HF token; images are placeholders, not AI output)';

  async render({ prompt, settings }: RenderRequest, { signal, onProvider }: RenderOptions): Promise<RenderedImages> {
    onProvider?.('local');
    const images: SniffedImage[] = [];
    for (let index = 0; index < imagesAsked(settings); index++) {
      // Drawing holds the event loop: between images, the worker's other work (lock renewals, a cancel) gets its turn.
      await setImmediate();
      if (signal.aborted) throw signal.reason;
      images.push(draw(prompt, settings, index));
    }
    return { provider: 'local', images };
  }

  async close(): Promise<void> {}
}

function draw(prompt: string, settings: GenerationSettings, index: number): SniffedImage {
  const { num_images: _count, ...drawn } = settings;
  const seeded = { ...drawn, seed: imageSeed(settings.seed, index) };
  const digest = createHash('sha256')
    .update(JSON.stringify(settings.seed === null ? [prompt, seeded, index] : [prompt, seeded]))
    .digest();
  const { width, height } = settings;
  const png = new PNG({ width, height });
  const from = [digest[0]!, digest[1]!, digest[2]!];
  const to = [digest[3]!, digest[4]!, digest[5]!];
  const stripes = 2 + (digest[6]! % 10);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height - 2);
      const band = Math.floor(((x * stripes) / width + (y * stripes) / height) % 2);
      const i = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) {
        const value = from[c]! + (to[c]! - from[c]!) * t;
        png.data[i + c] = band ? value : 255 - value;
      }
      png.data[i + 3] = 255;
    }
  }
  const image = sniffImage(PNG.sync.write(png));
  if (!image) throw new Error('local renderer produced an unreadable PNG');
  return image;
}
