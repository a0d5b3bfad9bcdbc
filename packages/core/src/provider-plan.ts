import type { MappedProvider } from './provider-mapping';
import type { ProviderPreference, HfProvider } from '@imagegen/shared';

/**
 * The providers a generation is tried on, in order: the one the request named (if HF_PROVIDER allows it), else those of
 * `HF_PROVIDER` in its order, else (auto) the Hub's order. Empty when none of them serves the model.
 */
export function planProviders(
  mapped: MappedProvider[],
  preference: ProviderPreference,
  requested: HfProvider | null,
): MappedProvider[] {
  // HF_PROVIDER's list is the operator's allowance: a request may pick among it, not beyond it.
  const allowed = preference.kind === 'list' ? preference.providers : null;
  if (requested) {
    return allowed && !allowed.includes(requested) ? [] : mapped.filter((entry) => entry.provider === requested);
  }
  if (preference.kind !== 'list') return mapped;
  return preference.providers.flatMap((name) => mapped.filter((entry) => entry.provider === name));
}
