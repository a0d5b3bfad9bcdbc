import type { Collection, Db, ObjectId } from 'mongodb';
import type { CancelReason, ImageMeta, ServingProvider } from '@imagegen/shared';
import { Claims } from '../claims';
import { COLLECTIONS, type GenerationDocument } from '../db';
import { WriteContendedError } from '../outage';

/** What a completed run leaves on its record. */
export interface RunResult {
  /** Every image, in order: at least one, the first of which is also the record's `image`. */
  images: [ImageMeta, ...ImageMeta[]];
  provider: ServingProvider;
}

/** Which generation a cancel is for beyond its id: a run, or the deadline a deadline job was set for. */
export interface CancelScope {
  run?: number;
  deadline_at?: Date;
}

const CANCEL_MESSAGES: Record<CancelReason, string> = {
  user: 'Canceled by its owner',
  deadline: 'Canceled: not done by its cancel_after deadline',
};

type Change = Partial<Omit<GenerationDocument, '_id' | 'rev'>>;

/** What a claim on a revision keeps: the fields its write sets, and those it counts up. */
type ClaimedWrite = {
  write: Change & { rev: number };
  inc?: { attempts: number };
};

const updateOf = ({ write, inc }: ClaimedWrite) => ({ $set: write, ...(inc && { $inc: inc }) });

/** How long a writer that read a record mid-change waits, in all, for the change to land. */
const CONTENDED_WAITS_MS = [2, 5, 10, 25, 50, 100, 200, 400, 800];

const inFlight = (doc: GenerationDocument) => doc.status === 'pending' || doc.status === 'processing';

/**
 * Every change of a generation's `status`, for the API and the worker alike, and the one place
 * that decides which of several concurrent writers makes it.
 *
 * A change is made from a revision of the record: its writer has the record as it was (read now,
 * or the one it moved earlier), checks in code that the change applies to it, then claims
 * `generation:<id>:<rev>` (see `Claims`: only one insert of a key succeeds, on MongoDB and on
 * FerretDB alike), and only the claim's winner writes the record, with `rev` one more. So of many
 * writers that read one revision exactly one moves it, whatever the server does with concurrent
 * conditional updates; a job delivered twice (BullMQ is at-least-once) cannot complete twice, and
 * a job of an earlier run cannot touch the run a retry started. The claim keeps the write, so if
 * its writer dies between the claim and the write, the next writer that meets the claim makes
 * the write for it (`Claims.write`).
 *
 * Two kinds of change: those made from a record the caller holds (`complete`, `release`,
 * `requeue`, `reopen`, `restore`) answer null once anyone moved it; those made from the record as
 * it is now (`start`, `fail`, `cancel`) read it first (a `start` whose job names the revision
 * it was queued at tries that revision first, unread), and read again and retry when another
 * writer moved it meanwhile, as a conditional update would see the newer state. A copy of one
 * delivery whose `start` lost reads the record its twin started, with its own delivery number,
 * and so does nothing. While a claim's write has not landed, they wait, then throw
 * `WriteContendedError`: a start must not take an unfinished change for one that ended the run,
 * or the worker would drop a job whose record is still pending.
 *
 * The two writes the worker retries while MongoDB is away, `complete` and `fail`, name their
 * writer (`by`: an id the processor draws for each run of a job), so that a write cut off after
 * its claim is finished by the next try of the same run (see `Claims`). The id must be fresh for
 * each run: BullMQ's lock token is not, as a worker hands it on to the next job it takes.
 */
export class GenerationStore {
  private readonly generations: Collection<GenerationDocument>;
  private readonly claims: Claims;

  constructor(db: Db) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.claims = new Claims(db);
  }

  /**
   * pending → processing for `run`, started by `delivery` of its job (BullMQ's `attemptsStarted`,
   * one more each time the job is taken). A processing record is taken over only by a later
   * delivery: a retry after our own error, or a stalled job given to another worker. Null if there
   * is nothing to do, or if this delivery (or a later one) started it already: another copy of it.
   *
   * `queuedAt`: the revision the job's enqueuer left pending for `run` (`GenerationJobData.rev`).
   * What a pending revision says never changes; a record only moves past it, and only by the writer
   * that took its claim. So whoever takes that claim knows, without reading it, that the record is
   * at that revision and pending for `run`, and moves it in one write that answers the record: two
   * round trips where a read first makes three. When the claim is taken already (the record moved
   * on, or a copy of this job came first), or the write finds the record elsewhere (deleted, or
   * moved on long ago and the claim since removed by the retention sweep), the record is read and
   * decided on as without `queuedAt`. A claim taken so for a revision the record has left is never
   * written: every writer claims the revision it read.
   */
  async start(id: ObjectId, run: number, delivery: number, queuedAt?: number): Promise<GenerationDocument | null> {
    if (queuedAt !== undefined) {
      const now = new Date();
      const claimed: ClaimedWrite = {
        write: { status: 'processing', delivery, started_at: now, updated_at: now, rev: queuedAt + 1 },
        inc: { attempts: 1 },
      };
      if (await this.claims.take(claimKey(id, queuedAt), claimed)) {
        const started = await this.generations.findOneAndUpdate({ _id: id, rev: queuedAt }, updateOf(claimed), {
          returnDocument: 'after',
        });
        if (started) return started;
      }
    }
    return this.settle(id, (doc) => {
      if (doc.run !== run || !inFlight(doc)) return null;
      if (doc.status === 'processing' && delivery <= (doc.delivery ?? 0)) return null;
      const now = new Date();
      return { status: 'processing', delivery, started_at: now, updated_at: now, attempts: doc.attempts + 1 };
    });
  }

  /**
   * Back to `pending` for its run to be queued again, if the record is still as the reconciler saw
   * it; null when it changed meanwhile (its job moved it, or it was canceled or retried).
   */
  requeue(seen: GenerationDocument): Promise<GenerationDocument | null> {
    return this.move(seen, { status: 'pending', updated_at: new Date() });
  }

  /** Whether `generation` (as its run's start left it) still holds its record, i.e. may still complete it. */
  async holds(generation: GenerationDocument): Promise<boolean> {
    const doc = await this.generations.findOne({ _id: generation._id });
    return !!doc && (doc.rev ?? 0) === (generation.rev ?? 0) && doc.status === 'processing';
  }

  /** processing → completed with the run's images; null when the run no longer holds the record. */
  complete(
    generation: GenerationDocument,
    result: RunResult,
    at: Date,
    by?: string,
  ): Promise<GenerationDocument | null> {
    if (generation.status !== 'processing') return Promise.resolve(null);
    return this.move(
      generation,
      {
        status: 'completed',
        image: result.images[0],
        images: result.images,
        provider: result.provider,
        error: null,
        completed_at: at,
        updated_at: at,
      },
      by,
    );
  }

  /** Fails `run` while it is in flight and returns the record; null when it had already ended. */
  fail(id: ObjectId, run: number, error: string, by?: string): Promise<GenerationDocument | null> {
    return this.settle(
      id,
      (doc) => {
        if (doc.run !== run || !inFlight(doc)) return null;
        const now = new Date();
        return { status: 'failed', error, completed_at: now, updated_at: now };
      },
      by,
    );
  }

  /** processing → pending, when a stopping worker hands back the job whose start left `generation`. */
  release(generation: GenerationDocument): Promise<GenerationDocument | null> {
    if (generation.status !== 'processing') return Promise.resolve(null);
    return this.move(generation, { status: 'pending', updated_at: new Date() });
  }

  /** pending or processing → canceled; null when it had already ended (or is not the one `scope` names). */
  cancel(id: ObjectId, reason: CancelReason, scope: CancelScope = {}): Promise<GenerationDocument | null> {
    return this.settle(id, (doc) => {
      if (!inFlight(doc) || !inScope(doc, scope)) return null;
      const now = new Date();
      return {
        status: 'canceled',
        cancel_reason: reason,
        error: CANCEL_MESSAGES[reason],
        completed_at: now,
        updated_at: now,
      };
    });
  }

  /** The record if it is canceled already (and in `scope`), so a cut-short cancel can be finished. */
  async findCanceled(id: ObjectId, scope: CancelScope = {}): Promise<GenerationDocument | null> {
    const doc = await this.generations.findOne({ _id: id });
    return doc?.status === 'canceled' && inScope(doc, scope) ? doc : null;
  }

  /**
   * An ended generation → pending for another run, with a fresh deadline, the ended run kept in
   * `history`; null if the generation was no longer as `ended` says (another retry came first).
   */
  reopen(ended: GenerationDocument, at: Date): Promise<GenerationDocument | null> {
    const deadline = ended.cancel_after_ms ? new Date(at.getTime() + ended.cancel_after_ms) : null;
    return this.move(ended, {
      run: ended.run + 1,
      status: 'pending',
      error: null,
      cancel_reason: null,
      deadline_at: deadline,
      started_at: null,
      completed_at: null,
      updated_at: at,
      history: [
        ...ended.history,
        {
          status: ended.status,
          error: ended.error,
          started_at: ended.started_at,
          ended_at: ended.completed_at,
          retried_at: at,
        },
      ],
    });
  }

  /**
   * Undoes `reopen` when the run could not be queued, keeping the run counter it moved on to: a
   * job of that run that lands late finds no run of its number, and the next retry takes a new one.
   */
  async restore(ended: GenerationDocument, reopened: GenerationDocument): Promise<void> {
    const { _id, rev: _rev, ...before } = ended;
    await this.move(reopened, { ...before, run: reopened.run });
  }

  /** Removes a record that never reached the queue, so a failed create leaves nothing behind. */
  async deletePending(id: ObjectId): Promise<void> {
    await this.generations.deleteOne({ _id: id, status: 'pending' });
  }

  /**
   * Reads the record and moves it as `decide` says, reading it again when another writer moved
   * it first; null as soon as `decide` finds nothing to do.
   */
  private async settle(
    id: ObjectId,
    decide: (doc: GenerationDocument) => Change | null,
    by?: string,
  ): Promise<GenerationDocument | null> {
    for (const wait of [...CONTENDED_WAITS_MS, null]) {
      const doc = await this.generations.findOne({ _id: id });
      const change = doc && decide(doc);
      if (!doc || !change) return null;
      const moved = await this.move(doc, change, by);
      if (moved) return moved;
      if (wait === null) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw new WriteContendedError(`generation ${id.toHexString()}: other writers kept changing it first`);
  }

  /**
   * `change` applied to `seen` if this writer wins the claim on its revision; null if another did.
   * What is applied is the claim's: on a try after one cut off, the change that try claimed.
   */
  private async move(seen: GenerationDocument, change: Change, by?: string): Promise<GenerationDocument | null> {
    const rev = seen.rev ?? 0;
    let applied: Change & { rev: number } = { ...change, rev: rev + 1 };
    // Matches nothing once the record moved on: a finisher coming second, or a claim the retention
    // sweep removed, taken again by a writer holding a day-old revision. The claim's data may be
    // another writer's, one it abandoned: a start's counts an attempt up (`start`).
    const made = await this.claims.write<ClaimedWrite>(
      claimKey(seen._id, rev),
      { write: applied },
      async (data) => {
        applied = data.write;
        const { matchedCount } = await this.generations.updateOne(atRevision(seen), updateOf(data));
        return matchedCount === 1;
      },
      {
        by,
        // The record moved past `seen` can only have moved by the claim on `seen`'s revision.
        landed: async () => {
          const now = await this.generations.findOne({ _id: seen._id }, { projection: { rev: 1 } });
          return !!now && (now.rev ?? 0) > rev;
        },
      },
    );
    return made ? { ...seen, ...applied } : null;
  }
}

function claimKey(id: ObjectId, rev: number): string {
  return `generation:${id.toHexString()}:${rev}`;
}

/** The record, if it is still at `seen`'s revision; a record from before revisions has no `rev`. */
function atRevision(seen: GenerationDocument) {
  return { _id: seen._id, rev: seen.rev ?? { $exists: false as const } };
}

function inScope(doc: GenerationDocument, scope: CancelScope): boolean {
  if (scope.run !== undefined && doc.run !== scope.run) return false;
  return scope.deadline_at === undefined || doc.deadline_at?.getTime() === scope.deadline_at.getTime();
}
