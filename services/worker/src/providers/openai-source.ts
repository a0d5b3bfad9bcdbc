import { OpenAiModel } from '@imagegen/shared';
import { HfFailure } from '../hf/hf-answer';
import type { ImageSource, RenderOptions, RenderRequest, RenderedImage } from '../images/image-source';
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

  async render({ prompt, settings }: RenderRequest, { signal, onRetry }: RenderOptions): Promise<RenderedImage> {
    const model = OpenAiModel.safeParse(settings.model);
    const result = await this.client.call(
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
    if (result.kind !== 'image') throw new HfFailure(`OpenAI: ${result.detail}`);
    return { ...result.image, provider: 'openai' };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
