import type { HfProvider } from '@imagegen/shared';
import type { ProviderAdapter } from './adapter';
import { falAi } from './fal-ai';
import { hfInference } from './hf-inference';
import { nscale, together } from './openai-shape';
import { replicate } from './replicate';
import { wavespeed } from './wavespeed';
import { zaiOrg } from './zai-org';

/** Every Inference Provider's adapter, behind the router at `routerUrl`, each with `headers` on its requests. */
export function routerAdapters(
  routerUrl: string,
  headers: Record<string, string>,
): Record<HfProvider, ProviderAdapter> {
  return {
    'fal-ai': falAi(routerUrl, headers),
    'hf-inference': hfInference(`${routerUrl}/hf-inference/models`, 'hf-inference', headers),
    nscale: nscale(routerUrl, headers),
    replicate: replicate(routerUrl, headers),
    together: together(routerUrl, headers),
    wavespeed: wavespeed(routerUrl, headers),
    'zai-org': zaiOrg(routerUrl, headers),
  };
}
