import type { RedisClient } from '@imagegen/core';
import { ProviderMappings, redisMappingCache } from '@imagegen/core';
import type { ApiConfig } from '../config';
import { ModelCatalog } from './model-catalog';

/**
 * The catalog this deployment's settings describe. Creates and GET /api/models share it; its cache
 * of provider mappings is in Redis, shared with the other instances and the workers.
 */
export function configuredModelCatalog(config: ApiConfig, redis: RedisClient): ModelCatalog {
  return new ModelCatalog(
    {
      backend: config.backend,
      defaultModel: config.HF_MODEL,
      ...(config.HF_ALLOWED_MODELS && { allowedModels: config.HF_ALLOWED_MODELS }),
      preference: config.HF_PROVIDER,
      openaiModel: config.OPENAI_API_KEY ? config.OPENAI_MODEL : null,
    },
    new ProviderMappings(redisMappingCache(redis, config.QUEUE_PREFIX), {
      hubUrl: config.HF_HUB_URL,
      token: config.HF_TOKEN,
      ttlMs: config.HF_MAPPING_TTL_MS,
    }),
  );
}
