import { ConfigError } from '@imagegen/shared';
import { loadApiConfig } from '../src/config';

/** The ConfigError `loadApiConfig(env)` throws, or a failure when it does not throw one. */
export function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadApiConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}
