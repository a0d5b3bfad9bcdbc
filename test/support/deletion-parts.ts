import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import { QUEUES } from '@imagegen/shared';
import {
  GenerationCanceller,
  GenerationDeleter,
  GenerationEvents,
  GenerationLifecycle,
  GenerationStore,
  InFlightGenerations,
  JobQueues,
  WebhookNotifier,
  createLogger,
  type ImageStore,
} from '@imagegen/core';

const BASE_URL = 'http://imagegen.test';

/** What deleting a generation takes, wired as the services wire it, on a test's own database and queues. */
export interface DeletionParts {
  queues: JobQueues;
  store: GenerationStore;
  events: GenerationEvents;
  inFlight: InFlightGenerations;
  canceller: GenerationCanceller;
  deleter: GenerationDeleter;
}

export function deletionParts(db: Db, redis: Redis, queuePrefix: string, images: ImageStore): DeletionParts {
  const queues = new JobQueues({ connection: redis, prefix: queuePrefix }, createLogger('test', 'silent'));
  const store = new GenerationStore(db);
  const events = new GenerationEvents(redis, queuePrefix);
  const inFlight = new InFlightGenerations(redis, queuePrefix);
  const lifecycle = new GenerationLifecycle(events, new WebhookNotifier(db, queues, BASE_URL), inFlight, BASE_URL);
  const canceller = new GenerationCanceller(store, redis, queuePrefix, queues.queue(QUEUES.generations), lifecycle);
  const deleter = new GenerationDeleter({ db, images, events, inFlight, canceller, queues });
  return { queues, store, events, inFlight, canceller, deleter };
}
