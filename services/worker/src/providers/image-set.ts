import { imagesAsked } from '@imagegen/shared';
import { imageSeed } from '../images/image-seed';
import type { SniffedImage } from '../images/sniff';
import type { ProviderAdapter, ProviderJob } from './adapter';
import type { CallPlan, CallResult, ProviderClient } from './provider-client';

/** A generation as one provider is asked for it: every image its settings ask for. */
export type ImageSetJob = Omit<ProviderJob, 'images'>;

/** Why the other requests of a set are stopped once one of them has failed. */
const SET_FAILED = new Error('another image of the generation failed');

/**
 * The requests that ask `adapter`'s provider for all of the job's images: one carrying the count
 * where the provider takes one (up to its most per request), else one per image, image i seeded
 * with `seed + i` when a seed is set, unseeded otherwise.
 */
export function requestsFor(adapter: ProviderAdapter, job: ImageSetJob): ProviderJob[] {
  const asked = imagesAsked(job.settings);
  const most = Math.max(1, adapter.imagesPerRequest?.(job.providerId) ?? 1);
  const requests: ProviderJob[] = [];
  for (let first = 0; first < asked; first += most) {
    requests.push({
      ...job,
      settings: { ...job.settings, seed: imageSeed(job.settings.seed, first) },
      images: Math.min(most, asked - first),
    });
  }
  return requests;
}

/**
 * Asks one provider for all of the job's images (see `requestsFor`), its requests at once (there
 * are at most MAX_IMAGES), under the plan's abort signal and budget. The set succeeds or fails
 * whole, as a generation keeps all its images or none: the first request that fails for good, or
 * that this provider cannot serve, stops the others, and decides what the call answers.
 */
export async function callForImages(
  client: ProviderClient,
  adapter: ProviderAdapter,
  token: string,
  job: ImageSetJob,
  plan: CallPlan,
): Promise<CallResult> {
  const requests = requestsFor(adapter, job);
  if (requests.length === 1) return client.call(adapter, token, requests[0]!, plan);
  const stop = new AbortController();
  const signal = AbortSignal.any([plan.signal, stop.signal]);
  const sets: SniffedImage[][] = [];
  let ended: { result: CallResult } | { error: unknown } | undefined;
  await Promise.all(
    requests.map(async (request, i) => {
      try {
        const result = await client.call(adapter, token, request, { ...plan, signal });
        if (result.kind === 'images') {
          sets[i] = result.images;
          return;
        }
        ended ??= { result };
      } catch (error) {
        // The first to end it decides; those stopped after it only echo SET_FAILED (or the cancel).
        ended ??= { error };
      }
      stop.abort(SET_FAILED);
    }),
  );
  if (!ended) return { kind: 'images', images: sets.flat() };
  if ('error' in ended) throw ended.error;
  return ended.result;
}
