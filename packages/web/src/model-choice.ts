import type { ModelInfo, ModelList } from '@imagegen/client';
import { RequestedProvider } from '@imagegen/shared';
import { h } from './dom';

/**
 * The model and provider selects of the settings. The models come from `GET /api/models`; the
 * provider choices are those of the selected model a request may name, after "auto" (no `provider`:
 * the service chooses). Until the list arrives, or when it cannot be had, the model is the API's
 * default and the provider auto.
 */
export class ModelChoice {
  private models: ModelInfo[] = [];

  constructor(
    private readonly model: HTMLSelectElement,
    private readonly provider: HTMLSelectElement,
  ) {
    this.offer({ items: [] });
    // A provider the newly chosen model does not list falls back to auto.
    model.addEventListener('change', () => this.offerProviders(this.provider.value, false));
  }

  /** Lists these models, keeping the current choice (one restored from a generation, say); else the default. */
  offer(list: ModelList): void {
    const [model, provider] = [this.model.value, this.provider.value];
    this.models = list.items;
    this.model.replaceChildren(
      ...(this.models.length === 0 ? [h('option', { value: '', textContent: 'default' })] : []),
      ...this.models.map((item) =>
        h('option', { value: item.id, textContent: item.default ? `${item.id} (default)` : item.id }),
      ),
    );
    const fallback = this.models.find((item) => item.default)?.id ?? this.models[0]?.id ?? '';
    this.select(model || fallback, provider || null);
  }

  /** A generation's model and provider, offered even when the list no longer has them. */
  select(model: string, provider: string | null): void {
    if (model && ![...this.model.options].some((option) => option.value === model)) {
      this.model.append(h('option', { value: model, textContent: `${model} (not listed)` }));
    }
    this.model.value = model;
    this.offerProviders(provider ?? '', true);
  }

  private offerProviders(wanted: string, keepUnlisted: boolean): void {
    const model = this.models.find((item) => item.id === this.model.value);
    // `hf-endpoint` or `local` serve every request of a deployment: no request names them.
    const offered = (model?.providers ?? []).filter((entry) => RequestedProvider.safeParse(entry.provider).success);
    // An OpenAI model is served only when the request asks for OpenAI (unless every request goes
    // there): "auto" would be refused, so OpenAI is the one choice.
    const onlyOpenAi = offered.length > 0 && offered.every((entry) => entry.provider === 'openai');
    this.provider.replaceChildren(
      ...(onlyOpenAi ? [] : [h('option', { value: '', textContent: 'auto' })]),
      ...offered.map((entry) =>
        h('option', {
          value: entry.provider,
          textContent: entry.status === 'staging' ? `${entry.provider} (staging)` : entry.provider,
        }),
      ),
    );
    const listed = offered.some((entry) => entry.provider === wanted);
    if (wanted && !listed && keepUnlisted) {
      this.provider.append(h('option', { value: wanted, textContent: `${wanted} (not listed)` }));
    }
    this.provider.value = listed || keepUnlisted ? wanted : onlyOpenAi ? 'openai' : '';
  }
}
