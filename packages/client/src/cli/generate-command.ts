import { writeFile } from 'node:fs/promises';
import { RequestedProvider, type Generation, type GenerationEvent } from '@imagegen/shared';
import type { ImagegenClient } from '../client';
import type { CreateGenerationInput } from '../client-options';
import { imageOf } from '../image';
import { describeEvent } from '../progress';
import { JSON_OPTION, parse, str, URL_OPTION, UsageError } from './arguments';
import { connect } from './connect';
import { withoutImage } from './describe';
import type { CliIo } from './io';
import { ProgressLine } from './progress';

/** CLI flags of `generate` and the request field each one sets. */
const SETTINGS = {
  width: { field: 'width', number: true },
  height: { field: 'height', number: true },
  steps: { field: 'num_inference_steps', number: true },
  guidance: { field: 'guidance_scale', number: true },
  seed: { field: 'seed', number: true },
  count: { field: 'num_images', number: true },
  style: { field: 'style', number: false },
  negative: { field: 'negative_prompt', number: false },
  model: { field: 'model', number: false },
  provider: { field: 'provider', number: false },
  timeout: { field: 'cancel_after', number: false },
} as const;

export async function generate(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...URL_OPTION,
    ...JSON_OPTION,
    output: { type: 'string', short: 'o' },
    poll: { type: 'boolean' },
    ...Object.fromEntries(Object.keys(SETTINGS).map((flag) => [flag, { type: 'string' }])),
  });
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('generate needs a prompt: imagegen generate "a cat on a windowsill" -o cat.png');
  const request: Record<string, unknown> = { prompt };
  for (const [flag, { field, number }] of Object.entries(SETTINGS)) {
    const value = str(values[flag]);
    if (value === undefined) continue;
    if (number && !Number.isFinite(Number(value))) throw new UsageError(`--${flag} must be a number, not "${value}"`);
    request[field] = number ? Number(value) : value;
  }
  const provider = str(values.provider);
  if (provider !== undefined && !RequestedProvider.safeParse(provider).success) {
    throw new UsageError(`--provider must be one of ${RequestedProvider.options.join(', ')}`);
  }
  const client = await connect(io, values);
  const progress = new ProgressLine(io.stderr, describeProgress);
  let generation: Generation;
  let id: string | undefined;
  try {
    generation = await client.generate(request as CreateGenerationInput, {
      signal: io.signal,
      via: values.poll ? 'poll' : 'auto',
      onEvent: (event) => {
        if (event.type === 'status') id = event.generation.id;
        progress.update(event);
      },
    });
  } catch (err) {
    // The client cancels it on an abort; say which one, since its id was never printed.
    if (io.signal.aborted && id) io.stderr.write(`\ncanceled ${id}\n`);
    throw err;
  } finally {
    progress.end();
  }
  const paths = await saveImages(client, generation, str(values.output), io.signal);
  io.stdout.write(values.json ? `${JSON.stringify(withoutImage(generation), null, 2)}\n` : `${paths.join('\n')}\n`);
  return 0;
}

/**
 * Writes each image of the completed generation: to `output` (or `<id>.png`) when there is one;
 * numbered from 1 before the extension when there are several (`cat-1.png`, `cat-2.png`, …). The
 * first comes with the record; the others are fetched.
 */
async function saveImages(
  client: ImagegenClient,
  generation: Generation,
  output: string | undefined,
  signal: AbortSignal,
): Promise<string[]> {
  const count = Math.max(1, generation.images.length);
  const paths: string[] = [];
  for (let index = 0; index < count; index++) {
    const image = index === 0 ? imageOf(generation) : await client.getImage(generation.id, { index, signal });
    const extension = image.mimeType === 'image/jpeg' ? 'jpg' : image.mimeType === 'image/webp' ? 'webp' : 'png';
    const path = numbered(output ?? `${generation.id}.${extension}`, count === 1 ? null : index + 1);
    await writeFile(path, image.bytes);
    paths.push(path);
  }
  return paths;
}

/** `cat.png` as `cat-2.png` (`n` before the extension), or as it is when `n` is null. */
function numbered(path: string, n: number | null): string {
  if (n === null) return path;
  const dot = path.lastIndexOf('.');
  return dot > path.lastIndexOf('/') && dot > 0 ? `${path.slice(0, dot)}-${n}${path.slice(dot)}` : `${path}-${n}`;
}

/** The progress line's words, with who served the image once it is done. */
function describeProgress(event: GenerationEvent): string {
  const text = describeEvent(event);
  const served = event.type === 'status' && event.status === 'completed' ? event.generation.provider : null;
  return served ? `${text}, served by ${served}` : text;
}
