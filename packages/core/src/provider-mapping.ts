import type { RedisClient } from './connections';
import { z } from 'zod';
import { HfProvider, type HfProvider as HfProviderName } from '@imagegen/shared';

/** A provider that serves a model for text-to-image, as the Hub's mapping says. */
export interface MappedProvider {
  provider: HfProviderName;
  /** The provider's own name for the model: URLs and bodies use it, not the Hub id. */
  providerId: string;
  status: 'live' | 'staging';
}

/** What the Hub says of a model: unknown to it, or known with these text-to-image providers (maybe none). */
export type ModelMapping = { known: false } | { known: true; providers: MappedProvider[] };

/** The Hub could not be asked (down, or refusing our token): nothing can be said of the model yet. */
export class MappingUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingUnavailable';
  }
}

const Entry = z.object({
  provider: z.string(),
  providerId: z.string(),
  status: z.string().optional(),
  task: z.string().optional(),
});
const Answer = z.object({
  inferenceProviderMapping: z.union([z.array(Entry), z.record(z.string(), Entry.omit({ provider: true }))]).optional(),
});

/**
 * The text-to-image providers in a Hub answer, in the Hub's order. The Hub sends an array of
 * entries, or (older answers) an object keyed by provider; both are read. Other tasks, providers we
 * do not speak and `error` entries (a failed health check) are left out; `staging` ones are kept
 * only when no provider is `live`.
 */
export function readMapping(body: unknown): MappedProvider[] {
  const parsed = Answer.safeParse(body);
  if (!parsed.success || !parsed.data.inferenceProviderMapping) return [];
  const raw = parsed.data.inferenceProviderMapping;
  const entries = Array.isArray(raw) ? raw : Object.entries(raw).map(([provider, entry]) => ({ provider, ...entry }));
  const usable = entries.flatMap((entry): MappedProvider[] => {
    const provider = HfProvider.safeParse(entry.provider);
    const status = entry.status ?? 'live';
    if (!provider.success || entry.task !== 'text-to-image' || (status !== 'live' && status !== 'staging')) return [];
    return [{ provider: provider.data, providerId: entry.providerId, status }];
  });
  const live = usable.filter((entry) => entry.status === 'live');
  return live.length > 0 ? live : usable;
}

export interface ProviderMappingOptions {
  hubUrl: string;
  token: string | undefined;
  ttlMs: number;
  /** Bounds one Hub request. */
  timeoutMs?: number;
}

/** Where mappings are kept between Hub reads. */
export interface MappingCache {
  get(model: string): Promise<string | null>;
  set(model: string, value: string, ttlMs: number): Promise<void>;
  delete(model: string): Promise<void>;
}

/** The services' cache: in Redis, so every API instance and worker shares one copy. */
export function redisMappingCache(redis: RedisClient, prefix: string): MappingCache {
  const key = (model: string) => `${prefix}:hf-mapping:${model}`;
  return {
    get: (model) => redis.get(key(model)),
    set: async (model, value, ttlMs) => {
      await redis.set(key(model), value, 'PX', ttlMs);
    },
    delete: async (model) => {
      await redis.del(key(model));
    },
  };
}

/** A cache for one process (the smoke check, which runs with no Redis). */
export function memoryMappingCache(): MappingCache {
  const entries = new Map<string, { value: string; until: number }>();
  return {
    get: async (model) => {
      const entry = entries.get(model);
      return entry && entry.until > Date.now() ? entry.value : null;
    },
    set: async (model, value, ttlMs) => {
      entries.set(model, { value, until: Date.now() + ttlMs });
    },
    delete: async (model) => {
      entries.delete(model);
    },
  };
}

/**
 * The Hub's model → provider mapping, cached so that the Hub is asked once per model per TTL. A
 * provider that says it does not serve a model drops the entry (`forget`), so the next job reads
 * the mapping afresh.
 */
export class ProviderMappings {
  constructor(
    private readonly cache: MappingCache,
    private readonly options: ProviderMappingOptions,
  ) {}

  async of(model: string): Promise<ModelMapping> {
    const cached = await this.cache.get(model);
    if (cached) return JSON.parse(cached) as ModelMapping;
    const mapping = await this.fetch(model);
    await this.cache.set(model, JSON.stringify(mapping), this.options.ttlMs);
    return mapping;
  }

  async forget(model: string): Promise<void> {
    await this.cache.delete(model);
  }

  private async fetch(model: string): Promise<ModelMapping> {
    const url = `${this.options.hubUrl}/api/models/${model}?expand[]=inferenceProviderMapping`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new MappingUnavailable(`the Hugging Face Hub did not answer (${(err as Error).message})`);
    }
    // The Hub answers 404 for a model it does not have, and 401 to a token that may not see it
    // (a private or gated repository): to us, both are a model nobody serves.
    if (res.status === 404 || (res.status === 401 && res.headers.get('x-error-code') === 'RepoNotFound')) {
      return { known: false };
    }
    if (!res.ok) {
      throw new MappingUnavailable(`the Hugging Face Hub answered ${res.status} for model ${model}`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      // A 200 that is not JSON is a proxy's page or a broken answer, not "no provider serves it".
      throw new MappingUnavailable(`the Hugging Face Hub answered model ${model} with something other than JSON`);
    }
    return { known: true, providers: readMapping(body) };
  }
}
