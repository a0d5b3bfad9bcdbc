import { createHash } from 'node:crypto';
import { PNG } from 'pngjs';
import type { ImageSource, RenderRequest, RenderedImage } from './image-source';
import { sniffImage } from './sniff';

/**
 * Draws a deterministic PNG from the prompt and settings, for running the system with no Hugging
 * Face account (never in production). The same request always gives the same picture.
 */
export class LocalRenderer implements ImageSource {
  readonly description = 'the built-in local renderer (no HF token; images are placeholders, not AI output)';

  async render({ prompt, settings }: RenderRequest): Promise<RenderedImage> {
    const digest = createHash('sha256')
      .update(JSON.stringify([prompt, settings]))
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
    return { ...image, provider: 'local' };
  }

  async close(): Promise<void> {}
}
