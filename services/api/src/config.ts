import { z } from 'zod';
import { CommonEnv, DEFAULT_HF_MODEL, ModelId, parseEnv } from '@imagegen/shared';

const ApiEnv = CommonEnv.extend({
  /** The model of requests that name none; the worker follows what each record says. */
  HF_MODEL: ModelId.default(DEFAULT_HF_MODEL),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8000),
  HOST: z.string().default('0.0.0.0'),
  JWT_SECRET: z.string().optional(),
  JWT_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .default(3600),
  AUTH_AUTO_REGISTER: z.stringbool().default(true),
  HF_ALLOWED_MODELS: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean),
    )
    .pipe(z.array(ModelId))
    .optional(),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(64 * 1024),
}).superRefine((env, ctx) => {
  if (env.NODE_ENV === 'production' && Buffer.byteLength(env.JWT_SECRET ?? '') < 32) {
    ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'required in production, at least 32 bytes' });
  }
});

export type ApiConfig = z.infer<typeof ApiEnv>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseEnv(ApiEnv, env);
}
