import { ProviderMappings, type MappingCache } from '@imagegen/core';
import { MAX_IMAGES } from '@imagegen/shared';
import type { WorkerConfig } from '../config';
import { HfClient } from '../hf/hf-client';
import type { HfObserver } from '../metrics';
import { OpenAiSource } from '../providers/openai-source';
import { ProviderClient, type ProviderClientOptions } from '../providers/provider-client';
import { routerAdapters } from '../providers/registry';
import { RoutedSource } from '../providers/routed-source';
import type { ImageSource, RenderOptions, RenderRequest, RenderedImages } from './image-source';
import { LocalRenderer } from './local-renderer';

/**
 * The worker's one image source: OpenAI Images for the requests that ask for it (or all of them,
 * HF_PROVIDER=openai), and the deployment's Hugging Face backend for the rest.
 */
class ImageSources implements ImageSource {
  readonly description: string;

  constructor(
    private readonly main: ImageSource,
    private readonly openAi: ImageSource | null,
  ) {
    this.description = openAi ? `${main.description}, and ${openAi.description}` : main.description;
  }

  render(request: RenderRequest, options: RenderOptions): Promise<RenderedImages> {
    const source = this.openAi && request.settings.provider === 'openai' ? this.openAi : this.main;
    return source.render(request, options);
  }

  async close(): Promise<void> {
    await Promise.all([this.main.close(), this.openAi?.close()]);
  }
}

/**
 * The image source the settings describe (see `Backend` in the shared provider settings).
 * `mappingCache`: where the Hub's model → provider mapping is cached (Redis in the services).
 */
export function imageSourceFor(config: WorkerConfig, mappingCache: MappingCache, observer?: HfObserver): ImageSource {
  const clientOptions: ProviderClientOptions = {
    // Each job sends at most one request per image at a time (several at once only for a provider
    // that makes one image per request). A fixed 32 held a worker of WORKER_CONCURRENCY 100 to 30
    // generations a second at 1 s per image (bench/README.md, `capacity`).
    connections: config.WORKER_CONCURRENCY * MAX_IMAGES,
    timeoutMs: config.HF_TIMEOUT_MS,
    maxImageBytes: config.HF_MAX_IMAGE_BYTES,
    backoff: { baseMs: config.HF_BACKOFF_BASE_MS, maxDelayMs: config.HF_BACKOFF_MAX_MS },
    ...(config.HF_POLL_INTERVAL_MS !== undefined && { pollIntervalMs: config.HF_POLL_INTERVAL_MS }),
    ...(observer && { observer }),
  };
  const openAi = config.OPENAI_API_KEY
    ? new OpenAiSource(new ProviderClient(clientOptions), {
        baseUrl: config.OPENAI_BASE_URL,
        apiKey: config.OPENAI_API_KEY,
        defaultModel: config.OPENAI_MODEL,
        maxWaitMs: config.HF_MAX_WAIT_MS,
      })
    : null;
  if (config.backend === 'openai' && openAi) return openAi;
  const token = config.HF_TOKEN;
  let main: ImageSource;
  if (config.backend === 'endpoint' && config.HF_BASE_URL && token) {
    main = new HfClient({
      ...clientOptions,
      baseUrl: config.HF_BASE_URL,
      token,
      maxWaitMs: config.HF_MAX_WAIT_MS,
      ...(config.HF_SCALE_UP_TIMEOUT_S !== undefined && { scaleUpTimeoutS: config.HF_SCALE_UP_TIMEOUT_S }),
    });
  } else if (config.backend === 'router' && token) {
    const mappings = new ProviderMappings(mappingCache, {
      hubUrl: config.HF_HUB_URL,
      token,
      ttlMs: config.HF_MAPPING_TTL_MS,
    });
    const headers: Record<string, string> = config.HF_BILL_TO ? { 'x-hf-bill-to': config.HF_BILL_TO } : {};
    main = new RoutedSource(
      new ProviderClient(clientOptions),
      routerAdapters(config.HF_ROUTER_URL, headers),
      mappings,
      {
        token,
        preference: config.HF_PROVIDER,
        maxWaitMs: config.HF_MAX_WAIT_MS,
      },
    );
  } else {
    main = new LocalRenderer();
  }
  return new ImageSources(main, openAi);
}
