import { DEFAULT_HF_MODEL, RequestedProvider, parseEnv } from '@imagegen/shared';
import { memoryMappingCache } from '@imagegen/core';
import { z } from 'zod';
import { loadWorkerConfig } from './config';
import { imageSourceFor } from './images/image-sources';

/**
 * `pnpm smoke:hf`: one image through the real Hugging Face (or OpenAI, HF_PROVIDER=openai) with the
 * settings of this environment, printing who served it, how long it took and how big it is. A live
 * check for users, not a test: CI has no internet. Needs no Redis or MongoDB.
 */
const Smoke = z.object({
  SMOKE_MODEL: z.string().default(DEFAULT_HF_MODEL),
  SMOKE_PROMPT: z.string().default('a lighthouse on a cliff at dawn, oil painting'),
  SMOKE_PROVIDER: RequestedProvider.optional(),
});

/** A line on stdout: what the check found, for the user who ran it. */
const say = (line: string) => process.stdout.write(`smoke:hf: ${line}\n`);

async function main(): Promise<number> {
  const config = loadWorkerConfig();
  const smoke = parseEnv(Smoke, process.env);
  if (config.backend === 'local') {
    console.error(
      'smoke:hf: set HF_TOKEN (a token with "Make calls to Inference Providers"), or OPENAI_API_KEY with HF_PROVIDER=openai',
    );
    return 2;
  }
  const source = imageSourceFor(config, memoryMappingCache());
  say(`${smoke.SMOKE_MODEL} through ${source.description}`);
  const started = Date.now();
  try {
    const { provider, images } = await source.render(
      {
        prompt: smoke.SMOKE_PROMPT,
        settings: {
          width: 512,
          height: 512,
          model: smoke.SMOKE_MODEL,
          provider: smoke.SMOKE_PROVIDER ?? null,
          style: null,
          negative_prompt: null,
          num_inference_steps: null,
          guidance_scale: null,
          seed: 42,
          num_images: 1,
        },
      },
      {
        signal: AbortSignal.timeout(config.HF_MAX_WAIT_MS),
        onRetry: (n) => say(`${n.detail}; retrying in ${n.delayMs} ms`),
      },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const [image] = images;
    say(
      `ok: provider ${provider}, ${seconds} s, ${image!.mime_type} ${image!.width}×${image!.height}, ${image!.bytes.length} bytes`,
    );
    return 0;
  } catch (err) {
    console.error(`smoke:hf: failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${(err as Error).message}`);
    return 1;
  } finally {
    await source.close();
  }
}

void main().then((code) => process.exit(code));
