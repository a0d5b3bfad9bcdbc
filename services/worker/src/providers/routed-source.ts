import { HfProvider, type HfProvider as HfProviderName, type ProviderPreference } from '@imagegen/shared';
import { planProviders, type ProviderMappings } from '@imagegen/core';
import { seconds } from '../hf/backoff';
import { HfFailure } from '../hf/hf-answer';
import type { ImageSource, RenderOptions, RenderRequest, RenderedImages } from '../images/image-source';
import type { ProviderAdapter } from './adapter';
import { callForImages } from './image-set';
import { OutOfTime, type ProviderClient } from './provider-client';

export interface RoutedSourceOptions {
  token: string;
  preference: ProviderPreference;
  maxWaitMs: number;
}

/**
 * Inference Providers through the router: the providers that serve the model (the Hub's mapping,
 * ordered by HF_PROVIDER or the request) are tried in turn within one budget. A failure another
 * provider might not have moves on to the next; one that no provider can fix (the token, the
 * credits, the prompt) fails at once. The official clients take the first provider and stop there.
 *
 * A generation's images all come from one provider: when one of its images fails at a provider in a
 * way the next might not, the whole set moves on, and the images that provider already drew are
 * dropped. One record then names the one provider that drew it (and bills it, in usage); the images
 * of a set are the same model's at the same provider, so seeds `seed + i` draw the set again; and a
 * set is never part one provider's, part another's, to be retried or explained image by image.
 */
export class RoutedSource implements ImageSource {
  readonly description = 'Hugging Face Inference Providers';

  constructor(
    private readonly client: ProviderClient,
    private readonly adapters: Record<HfProviderName, ProviderAdapter>,
    private readonly mappings: ProviderMappings,
    private readonly options: RoutedSourceOptions,
    private readonly now: () => number = Date.now,
  ) {}

  async render(
    { prompt, settings }: RenderRequest,
    { signal, onRetry, onProvider }: RenderOptions,
  ): Promise<RenderedImages> {
    const { model } = settings;
    const mapping = await this.mappings.of(model);
    if (!mapping.known)
      throw new HfFailure(`Model ${model} is not on the Hugging Face Hub (or this token may not see it)`);
    const requested = HfProvider.safeParse(settings.provider);
    const plan = planProviders(mapping.providers, this.options.preference, requested.success ? requested.data : null);
    if (plan.length === 0) {
      // The create was checked against the mapping; it has changed since.
      throw new HfFailure(
        `No Inference Provider${requested.success ? ` (${requested.data})` : ''} serves ${model} for text-to-image now`,
      );
    }
    const deadline = this.now() + this.options.maxWaitMs;
    const tried: string[] = [];
    for (const [index, entry] of plan.entries()) {
      const left = plan.length - index;
      const isLast = left === 1;
      let result;
      onProvider?.(entry.provider);
      try {
        result = await callForImages(
          this.client,
          this.adapters[entry.provider],
          this.options.token,
          { prompt, settings, providerId: entry.providerId },
          {
            signal,
            deadline,
            budgetMs: this.options.maxWaitMs,
            routed: entry.provider,
            ...(!isLast && { nextProvider: { shareEndsAt: this.now() + (deadline - this.now()) / left } }),
            ...(onRetry && { onRetry }),
          },
        );
      } catch (err) {
        if (err instanceof OutOfTime && tried.length > 0) {
          throw new HfFailure(this.noneServed(model, [...tried, `${entry.provider}: ${err.detail}`]));
        }
        throw err;
      }
      if (result.kind === 'images') return { provider: entry.provider, images: result.images };
      tried.push(`${entry.provider}: ${result.detail}`);
      // The mapping said this provider serves the model; it says not: read the mapping afresh next time.
      if (result.unsupported) await this.mappings.forget(model).catch(() => undefined);
      if (!isLast && this.now() >= deadline) break;
    }
    throw new HfFailure(this.noneServed(model, tried));
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private noneServed(model: string, tried: string[]): string {
    return `No Inference Provider produced an image of ${model} within ${seconds(this.options.maxWaitMs)}: ${tried.join('; ')}`;
  }
}
