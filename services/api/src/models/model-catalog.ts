import {
  OPENAI_MODELS,
  type Backend,
  type CreateGenerationRequest,
  type HfProvider,
  type ModelInfo,
  type ModelList,
  type ModelProvider,
  type OpenAiModel,
  type ProviderPreference,
  type RequestedProvider,
} from '@imagegen/shared';
import { MappingUnavailable, planProviders, type MappedProvider, type ProviderMappings } from '@imagegen/core';
import { ServiceUnavailableError, UnprocessableError } from '../errors';

export interface CatalogPolicy {
  backend: Backend;
  /** HF_MODEL: the model of requests that name none. */
  defaultModel: string;
  /** HF_ALLOWED_MODELS: when set, the only other Hugging Face models a request may name. */
  allowedModels?: string[];
  /** HF_PROVIDER. */
  preference: ProviderPreference;
  /** OPENAI_MODEL when OPENAI_API_KEY is set; null when OpenAI Images is not configured. */
  openaiModel: OpenAiModel | null;
}

/** What a create request is served with: its model, and the provider it asked for (null: left to the service). */
export interface ModelChoice {
  model: string;
  provider: RequestedProvider | null;
}

const isOpenAiModel = (model: string): model is OpenAiModel => (OPENAI_MODELS as readonly string[]).includes(model);

const refuse = (field: 'model' | 'provider', message: string) => new UnprocessableError([{ field, message }]);

const live = (provider: ModelProvider['provider'], model: string): ModelProvider[] => [
  { provider, provider_id: model, status: 'live' },
];

/**
 * Which models a user may ask for here, and which providers serve each: the one owner of that
 * question, asked by creates (to refuse at once what no worker could serve) and by `GET /api/models`.
 */
export class ModelCatalog {
  constructor(
    private readonly policy: CatalogPolicy,
    private readonly mappings: ProviderMappings,
  ) {}

  /**
   * The model and provider of a create, once this deployment can serve them; else a 422 naming the
   * field to change, or a 503 when the Hub cannot be asked which providers serve the model.
   */
  async choose(input: Pick<CreateGenerationRequest, 'model' | 'provider'>): Promise<ModelChoice> {
    const { backend, defaultModel, allowedModels } = this.policy;
    const provider = input.provider ?? null;
    if (provider === 'openai' || backend === 'openai') return this.chooseOpenAi(input.model, provider);
    const model = input.model ?? defaultModel;
    if (isOpenAiModel(model)) {
      throw refuse(
        'model',
        this.policy.openaiModel
          ? 'is an OpenAI model; ask for provider "openai"'
          : 'is an OpenAI model, and OpenAI Images is not configured here',
      );
    }
    if (allowedModels && model !== defaultModel && !allowedModels.includes(model)) {
      throw refuse('model', `is not offered here; use one of: ${[defaultModel, ...allowedModels].join(', ')}`);
    }
    if (backend === 'endpoint' && provider) {
      throw refuse('provider', 'this deployment serves one dedicated endpoint (HF_BASE_URL); leave provider out');
    }
    if (backend === 'router') await this.checkRouted(model, provider);
    return { model, provider };
  }

  /** `GET /api/models`: the default model first, then the other models a request may name, each with its providers. */
  async list(): Promise<ModelList> {
    const { backend, defaultModel, allowedModels = [], openaiModel } = this.policy;
    const openai = openaiModel ? [openaiModel, ...OPENAI_MODELS.filter((model) => model !== openaiModel)] : [];
    const entries: Array<Omit<ModelInfo, 'providers'>> =
      backend === 'openai'
        ? openai.map((id) => ({ id, default: id === openaiModel }))
        : [
            ...[...new Set([defaultModel, ...allowedModels])].map((id) => ({ id, default: id === defaultModel })),
            ...openai.map((id) => ({ id, default: false })),
          ];
    const items = await Promise.all(
      entries.map(async (entry) => ({ ...entry, providers: await this.providersOf(entry.id) })),
    );
    return { items };
  }

  /** The providers that serve `model` here, in the order a generation tries them (none: no provider serves it). */
  async providersOf(model: string): Promise<ModelProvider[]> {
    const { backend } = this.policy;
    if (backend === 'openai' || isOpenAiModel(model)) return live('openai', model);
    if (backend === 'endpoint') return live('hf-endpoint', model);
    if (backend === 'local') return live('local', model);
    const mapped = await this.mapped(model);
    if (!mapped) return [];
    return planProviders(mapped, this.policy.preference, null).map((entry) => ({
      provider: entry.provider,
      provider_id: entry.providerId,
      status: entry.status,
    }));
  }

  private chooseOpenAi(requestedModel: string | undefined, provider: RequestedProvider | null): ModelChoice {
    const { openaiModel } = this.policy;
    if (!openaiModel) throw refuse('provider', 'OpenAI Images is not configured here');
    if (provider && provider !== 'openai') {
      throw refuse('provider', 'this deployment serves OpenAI Images only; leave provider out, or ask for "openai"');
    }
    const model = requestedModel ?? openaiModel;
    if (!isOpenAiModel(model)) {
      throw refuse('model', `is not an OpenAI Images model; use one of: ${OPENAI_MODELS.join(', ')}`);
    }
    return { model, provider };
  }

  /** Refuses a model (or the provider a request named) that no Inference Provider serves here. */
  private async checkRouted(model: string, requested: HfProvider | null): Promise<void> {
    const { defaultModel, preference } = this.policy;
    const mapped = await this.mapped(model);
    if (!mapped) {
      throw refuse(
        'model',
        `is not a model on Hugging Face (or not one this deployment may see); the default is ${defaultModel}`,
      );
    }
    if (planProviders(mapped, preference, requested).length > 0) return;
    const servers = planProviders(mapped, preference, null);
    if (requested && servers.length > 0) {
      throw refuse(
        'provider',
        preference.kind === 'list' && !preference.providers.includes(requested)
          ? `${requested} is not used here; HF_PROVIDER allows: ${preference.providers.join(', ')}`
          : `${requested} does not serve ${model} for text-to-image; it is served by: ${servers.map((entry) => entry.provider).join(', ')}`,
      );
    }
    // Served by providers HF_PROVIDER leaves out, or by none at all.
    const allows = preference.kind === 'list' && mapped.length > 0 ? ' that HF_PROVIDER allows' : '';
    const instead = model === defaultModel ? 'name another model' : `try ${defaultModel} (the default)`;
    throw refuse('model', `is served by no Inference Provider for text-to-image${allows}; ${instead}`);
  }

  /** The Hub's text-to-image providers of `model` (null: the Hub does not know it). */
  private async mapped(model: string): Promise<MappedProvider[] | null> {
    try {
      const mapping = await this.mappings.of(model);
      return mapping.known ? mapping.providers : null;
    } catch (err) {
      if (!(err instanceof MappingUnavailable)) throw err;
      throw new ServiceUnavailableError(`Could not check which providers serve ${model}: ${err.message}`, err);
    }
  }
}
