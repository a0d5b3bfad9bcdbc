import { OpenAiModel } from '@imagegen/shared';
import { HfFailure } from '../hf/hf-answer';
import type { ImageSource, RenderOptions, RenderRequest, RenderedImages } from '../images/image-source';
import { callForImages } from './image-set';
import { openAi } from './openai';
import type { ProviderClient } from './provider-client';

export interface OpenAiSourceOptions {
  baseUrl: string;
  apiKey: string;
  /** The model of records whose model is not an OpenAI one (HF_PROVIDER=openai with the HF default). */
  defaultModel: OpenAiModel;
  maxWaitMs: number;
}

/** OpenAI Images (or any server that speaks it, at OPENAI_BASE_URL), with OpenAI's own retry rules. */
export class OpenAiSource implements ImageSource {
  readonly description: string;
  private readonly adapter;

  constructor(
    private readonly client: ProviderClient,
    private readonly options: OpenAiSourceOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `OpenAI Images at ${options.baseUrl}`;
    this.adapter = openAi(options.baseUrl);
  }

  async render(
    { prompt, settings }: RenderRequest,
    { signal, onRetry, onProvider }: RenderOptions,
  ): Promise<RenderedImages> {
    const model = OpenAiModel.safeParse(settings.model);
    onProvider?.('openai');
    const result = await callForImages(
      this.client,
      this.adapter,
      this.options.apiKey,
      { prompt, settings, providerId: model.success ? model.data : this.options.defaultModel },
      {
        signal,
        deadline: this.now() + this.options.maxWaitMs,
        budgetMs: this.options.maxWaitMs,
        who: 'OpenAI',
        ...(onRetry && { onRetry }),
      },
    );
    if (result.kind !== 'images') throw new HfFailure(`OpenAI: ${result.detail}`);
    return { provider: 'openai', images: result.images };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
