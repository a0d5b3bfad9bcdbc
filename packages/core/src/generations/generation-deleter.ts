import type { Db, ObjectId } from 'mongodb';
import { QUEUES, deadlineJobId, generationJobId, isTerminal, type QueueName } from '@imagegen/shared';
import {
  COLLECTIONS,
  type GenerationDocument,
  type IdempotencyKeyDocument,
  type WebhookAttemptDocument,
  type WebhookMessageDocument,
} from '../db';
import type { GenerationEvents } from '../generation-events';
import type { ImageStore } from '../images/image-store';
import type { InFlightGenerations } from '../in-flight';
import type { GenerationCanceller, RemovableJobs } from './generation-canceller';

/** Images deleted at once within a batch. */
const IMAGE_DELETES_AT_ONCE = 4;

export interface GenerationDeleterDeps {
  db: Db;
  images: ImageStore;
  events: GenerationEvents;
  inFlight: InFlightGenerations;
  canceller: GenerationCanceller;
  /** Where a generation's jobs wait: `JobQueues` fits. */
  queues: { queue(name: QueueName): RemovableJobs };
}

/**
 * Deletes generations and everything they left: image, events stream, webhook messages and their
 * attempts, jobs, idempotency keys, place among their owner's in flight, and last the record. An
 * interruption (a process stopping, Redis away) leaves the record to be found, and deleting it
 * again finishes the job: every step is a no-op once done.
 */
export class GenerationDeleter {
  private readonly generations;
  private readonly messages;
  private readonly attempts;
  private readonly idempotencyKeys;

  constructor(private readonly deps: GenerationDeleterDeps) {
    this.generations = deps.db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.messages = deps.db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
    this.attempts = deps.db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts);
    this.idempotencyKeys = deps.db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys);
  }

  async delete(doc: GenerationDocument): Promise<void> {
    await this.deleteMany([doc]);
  }

  /**
   * The same for many at once, as an account's deletion takes them: one query per collection for
   * the whole batch rather than one per generation (a scan each on FerretDB).
   */
  async deleteMany(docs: GenerationDocument[]): Promise<void> {
    if (docs.length === 0) return;
    // Canceled first: its job aborts, and a worker that has the image already finds the record no
    // longer its own and deletes the image itself (GenerationRepository.complete in the worker).
    await Promise.all(
      docs.filter((doc) => !isTerminal(doc.status)).map((doc) => this.deps.canceller.cancel(doc._id, 'user')),
    );
    const ids = docs.map((doc) => doc._id);
    const hexIds = ids.map((id) => id.toHexString());
    const messageIds = (
      await this.messages.find({ generation_id: { $in: ids } }, { projection: { _id: 1 } }).toArray()
    ).map((message) => message._id);
    await this.removeJobs(docs, messageIds);
    // One write after another, images a few at a time: a batch of hundreds sent at once queued
    // past FerretDB on SQLite's busy timeout (SQLITE_BUSY), and would flood an S3 endpoint too.
    for (let i = 0; i < ids.length; i += IMAGE_DELETES_AT_ONCE) {
      await Promise.all(ids.slice(i, i + IMAGE_DELETES_AT_ONCE).map((id) => this.deps.images.delete(id)));
    }
    await this.deps.events.remove(hexIds);
    await this.messages.deleteMany({ generation_id: { $in: ids } });
    await this.attempts.deleteMany({ generation_id: { $in: ids } });
    await this.idempotencyKeys.deleteMany({ user_id: { $in: owners(docs) }, generation_id: { $in: ids } });
    for (const owner of owners(docs)) {
      await this.deps.inFlight.remove(owner, ...docs.filter((doc) => doc.user_id.equals(owner)).map((doc) => doc._id));
    }
    await this.generations.deleteMany({ _id: { $in: ids } });
  }

  /**
   * Every run's generation job and deadline job, and the scheduled delivery of each webhook
   * message (its job id is the message id). A job a worker holds cannot be removed: it ends on its
   * own, finding its record canceled or gone, or its message gone.
   */
  private async removeJobs(docs: GenerationDocument[], messageIds: string[]): Promise<void> {
    const { queues } = this.deps;
    const removals: Array<Promise<unknown>> = messageIds.map((id) => queues.queue(QUEUES.webhooks).remove(id));
    for (const doc of docs) {
      const id = doc._id.toHexString();
      for (let run = 1; run <= doc.run; run++) {
        removals.push(
          queues.queue(QUEUES.generations).remove(generationJobId(id, run)),
          queues.queue(QUEUES.deadlines).remove(deadlineJobId(id, run)),
        );
      }
    }
    await Promise.all(removals);
  }
}

/** The distinct owners of these generations. */
function owners(docs: GenerationDocument[]): ObjectId[] {
  const seen = new Map<string, ObjectId>();
  for (const doc of docs) seen.set(doc.user_id.toHexString(), doc.user_id);
  return [...seen.values()];
}
