import { ModelId } from '@imagegen/shared';
import type { ImageSource, RenderOptions, RenderRequest, RenderedImages } from '../images/image-source';
import { hfInference } from '../providers/hf-inference';
import { callForImages } from '../providers/image-set';
import { ProviderClient, type ProviderClientOptions } from '../providers/provider-client';
import { HfFailure } from './hf-answer';

export interface HfClientOptions extends ProviderClientOptions {
  /** HF_BASE_URL: requests go to `${baseUrl}/${model}`. */
  baseUrl: string;
  token: string;
  maxWaitMs: number;
  /** `X-Scale-Up-Timeout` (seconds): an endpoint scaled to zero holds the request while it starts. */
  scaleUpTimeoutS?: number;
}

/**
 * One endpoint that speaks the hf-inference shape (`HF_BASE_URL`): a dedicated Inference Endpoint or
 * a self-hosted server. No mapping and no other provider: cold starts, rate limits and transient
 * errors are retried with bounded backoff until HF_MAX_WAIT_MS, and answers that retrying cannot
 * change fail at once.
 */
export class HfClient implements ImageSource {
  readonly description: string;
  private readonly client: ProviderClient;
  private readonly adapter;

  constructor(
    private readonly options: HfClientOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `the Hugging Face endpoint at ${options.baseUrl}`;
    this.client = new ProviderClient(options, now);
    const headers: Record<string, string> = {};
    if (options.scaleUpTimeoutS) headers['x-scale-up-timeout'] = String(options.scaleUpTimeoutS);
    this.adapter = hfInference(options.baseUrl.replace(/\/+$/, ''), 'hf-endpoint', headers);
  }

  async render(
    { prompt, settings }: RenderRequest,
    { signal, onRetry, onProvider }: RenderOptions,
  ): Promise<RenderedImages> {
    // The id becomes part of the URL path, carrying our token: one that is not `owner/name` (a `..`
    // segment, say) must never leave, whatever wrote the record.
    if (!ModelId.safeParse(settings.model).success) {
      throw new HfFailure(`Model id ${JSON.stringify(settings.model)} is not a Hugging Face model id (owner/name)`);
    }
    onProvider?.('hf-endpoint');
    const result = await callForImages(
      this.client,
      this.adapter,
      this.options.token,
      { prompt, settings, providerId: settings.model },
      {
        signal,
        deadline: this.now() + this.options.maxWaitMs,
        budgetMs: this.options.maxWaitMs,
        ...(onRetry && { onRetry }),
      },
    );
    if (result.kind !== 'images') throw new HfFailure(`Hugging Face: ${result.detail}`);
    return { provider: 'hf-endpoint', images: result.images };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
