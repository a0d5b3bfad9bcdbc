import { z } from 'zod';
import {
  CommonEnv,
  DEFAULT_HF_MODEL,
  ModelId,
  OPENAI_MODELS,
  ImageStoreSettings,
  ProviderSettings,
  checkImageStoreSettings,
  checkRedisSettings,
  parseEnv,
  resolveProviderSettings,
} from '@imagegen/shared';
import { AuthSettings, OWASP_HASH_COST } from './settings/auth-settings';
import { commaList } from './settings/comma-list';
import { HttpSettings } from './settings/http-settings';
import { LimitsSettings } from './settings/limits-settings';

/** Every setting the API reads, section by section (the worker's counterpart is `WorkerSettings`). */
export const ApiSettings = CommonEnv.extend({
  // The API reads them to check a create's model against the providers that serve it, and to list models.
  ...ProviderSettings.shape,
  /** The model of requests that name none; the worker follows what each record says. */
  HF_MODEL: ModelId.default(DEFAULT_HF_MODEL),
  HF_ALLOWED_MODELS: commaList.pipe(z.array(ModelId)).optional(),
  ...ImageStoreSettings.shape,
  ...HttpSettings.shape,
  ...AuthSettings.shape,
  ...LimitsSettings.shape,
});

/** The rules that tie settings of different sections together. */
function checkApiSettings(env: z.infer<typeof ApiSettings>, ctx: z.RefinementCtx): void {
  if (!env.ADMIN_EMAIL !== !env.ADMIN_PASSWORD) {
    const missing = env.ADMIN_EMAIL ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'ADMIN_EMAIL and ADMIN_PASSWORD go together' });
  }
  if (env.SHUTDOWN_DRAIN_MS >= env.SHUTDOWN_TIMEOUT_MS) {
    ctx.addIssue({ code: 'custom', path: ['SHUTDOWN_DRAIN_MS'], message: 'must be shorter than SHUTDOWN_TIMEOUT_MS' });
  }
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['HTTP_HEADERS_TIMEOUT_MS'],
      message: 'must not be longer than HTTP_REQUEST_TIMEOUT_MS',
    });
  }
  // Any client could then pick the address the per-IP sign-in limit counts it under, a new one each time.
  if (env.NODE_ENV === 'production' && env.TRUST_PROXY === true) {
    ctx.addIssue({
      code: 'custom',
      path: ['TRUST_PROXY'],
      message:
        "true believes any client's X-Forwarded-For; set the hop count of the proxies in front (e.g. 1) or their addresses",
    });
  }
  if (env.NODE_ENV === 'production' && env.PASSWORD_HASH_COST < OWASP_HASH_COST) {
    ctx.addIssue({
      code: 'custom',
      path: ['PASSWORD_HASH_COST'],
      message: `below ${OWASP_HASH_COST} (OWASP's scrypt N=2^${OWASP_HASH_COST}) is refused in production`,
    });
  }
  if (env.NODE_ENV === 'production' && Buffer.byteLength(env.JWT_SECRET ?? '') < 32) {
    ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'required in production, at least 32 bytes' });
  }
  if (env.HF_PROVIDER.kind === 'openai' && !env.OPENAI_API_KEY) {
    ctx.addIssue({ code: 'custom', path: ['OPENAI_API_KEY'], message: 'required when HF_PROVIDER=openai' });
  }
  // ModelId takes OpenAI's ids too (a request may name one with provider "openai"); as a Hugging Face
  // model, which these settings name, every request would be refused.
  const openai = (model: string) => (OPENAI_MODELS as readonly string[]).includes(model);
  if (openai(env.HF_MODEL)) {
    ctx.addIssue({ code: 'custom', path: ['HF_MODEL'], message: 'is an OpenAI model: set OPENAI_MODEL instead' });
  }
  if (env.HF_ALLOWED_MODELS?.some(openai)) {
    ctx.addIssue({
      code: 'custom',
      path: ['HF_ALLOWED_MODELS'],
      message: 'lists an OpenAI model: they are offered whenever OPENAI_API_KEY is set',
    });
  }
}

const ApiConfigSchema = ApiSettings.superRefine((env, ctx) => {
  checkApiSettings(env, ctx);
  checkImageStoreSettings(env, ctx);
  checkRedisSettings(env, ctx);
}).transform((env) => resolveProviderSettings(env));

export type ApiConfig = z.infer<typeof ApiConfigSchema>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseEnv(ApiConfigSchema, env);
}
