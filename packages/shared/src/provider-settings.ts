import { z } from 'zod';
import { durationMs } from './env';
import { HfProvider, OpenAiModel, type HfProvider as HfProviderName } from './providers';

export const DEFAULT_HF_MODEL = 'black-forest-labs/FLUX.1-schnell';
export const DEFAULT_HF_ROUTER_URL = 'https://router.huggingface.co';
export const DEFAULT_HF_HUB_URL = 'https://huggingface.co';
export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

/**
 * `HF_PROVIDER`: `auto` takes the providers in the order the Hub's mapping lists them; a list
 * (`nscale,together,fal-ai`) allows only those, in that order; `openai` sends every request to
 * OpenAI Images.
 */
export type ProviderPreference = { kind: 'auto' } | { kind: 'openai' } | { kind: 'list'; providers: HfProviderName[] };

export const ProviderPreference = z.string().transform((text, ctx): ProviderPreference => {
  const value = text.trim();
  if (value === 'auto') return { kind: 'auto' };
  if (value === 'openai') return { kind: 'openai' };
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !HfProvider.safeParse(name).success);
  if (names.length === 0 || unknown.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `must be auto, openai, or a comma-separated list of: ${HfProvider.options.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
    });
    return z.NEVER;
  }
  return { kind: 'list', providers: [...new Set(names as HfProviderName[])] };
});

const httpUrl = z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, ''));

/** Where images come from, read by the API (to check creates and list models) and by the worker. */
export const ProviderSettings = z.object({
  /** A fine-grained token with "Make calls to Inference Providers". */
  HF_TOKEN: z.string().optional(),
  /** The token's name in the original API's settings, still honoured so that its deployments keep working. */
  HUGGIN_API_KEY: z.string().optional(),
  /**
   * One endpoint that speaks the hf-inference shape (a dedicated Inference Endpoint or a self-hosted
   * server), used with no provider mapping. Unset: Inference Providers through HF_ROUTER_URL.
   */
  HF_BASE_URL: httpUrl.optional(),
  HF_ROUTER_URL: httpUrl.default(DEFAULT_HF_ROUTER_URL),
  HF_HUB_URL: httpUrl.default(DEFAULT_HF_HUB_URL),
  HF_PROVIDER: ProviderPreference.default({ kind: 'auto' }),
  /** How long a model's provider mapping is kept (in Redis, shared by every process) before it is read again. */
  HF_MAPPING_TTL_MS: durationMs(600_000),
  /** Bills Inference Providers calls to this organisation (`X-HF-Bill-To`). */
  HF_BILL_TO: z
    .string()
    .regex(/^[\w.-]{1,96}$/, 'must be a Hugging Face organisation name')
    .optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: httpUrl.default(DEFAULT_OPENAI_BASE_URL),
  /** The OpenAI Images model of requests that name none. */
  OPENAI_MODEL: OpenAiModel.default('gpt-image-1'),
});
type ProviderSettingsInput = z.infer<typeof ProviderSettings>;

/**
 * Where a deployment's images come from:
 * - `openai`: every request goes to OpenAI Images (`HF_PROVIDER=openai`);
 * - `endpoint`: one hf-inference endpoint (`HF_BASE_URL`), no mapping;
 * - `router`: Inference Providers, chosen per model from the Hub's mapping;
 * - `local`: no token at all; the worker draws placeholders (development only).
 */
export type Backend = 'openai' | 'endpoint' | 'router' | 'local';

export interface ResolvedProviderSettings extends Omit<ProviderSettingsInput, 'HUGGIN_API_KEY'> {
  backend: Backend;
}

/** The settings with the token's old name folded in and the backend decided, once, for both services. */
export function resolveProviderSettings<T extends ProviderSettingsInput>(
  env: T,
): Omit<T, 'HUGGIN_API_KEY'> & { backend: Backend } {
  const { HUGGIN_API_KEY, ...rest } = env;
  const token = rest.HF_TOKEN ?? HUGGIN_API_KEY;
  const backend: Backend =
    rest.HF_PROVIDER.kind === 'openai' ? 'openai' : !token ? 'local' : rest.HF_BASE_URL ? 'endpoint' : 'router';
  return { ...rest, ...(token !== undefined && { HF_TOKEN: token }), backend };
}

/** The cross-field rules both services apply to the settings above. */
export function checkProviderSettings(env: ProviderSettingsInput & { NODE_ENV: string }, ctx: z.RefinementCtx): void {
  if (env.HF_PROVIDER.kind === 'openai' && !env.OPENAI_API_KEY) {
    ctx.addIssue({ code: 'custom', path: ['OPENAI_API_KEY'], message: 'required when HF_PROVIDER=openai' });
    return;
  }
  if (env.HF_PROVIDER.kind !== 'openai' && env.NODE_ENV === 'production' && !env.HF_TOKEN && !env.HUGGIN_API_KEY) {
    ctx.addIssue({ code: 'custom', path: ['HF_TOKEN'], message: 'required in production (or HUGGIN_API_KEY)' });
  }
}
