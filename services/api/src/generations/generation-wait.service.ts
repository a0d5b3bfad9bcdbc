import { isTerminal, type CreateGenerationRequest } from '@imagegen/shared';
import type { GenerationDocument, GenerationEvents } from '@imagegen/core';
import type { EventHub } from '../infra/event-hub';
import type { Representation } from './generation.schemas';
import type { Created, GenerationService } from './generation.service';

export interface CreateAndWait {
  idempotencyKey?: string | undefined;
  /**
   * `Prefer: wait=N`: how long to hold the answer for the generation to end (0: not at all);
   * undefined when the request states no preference, and then `defaultWaitSeconds` applies.
   */
  waitSeconds: number | undefined;
  /** `minimal`: the answer without the images' bytes (`Prefer: return=minimal`). */
  representation: Representation;
  /** Aborts when the client goes away: there is no one left to answer. */
  signal: AbortSignal;
}

/** How many of a generation's newest events a wait looks through for its status. */
const STATUS_LOOKBACK = 5;

/**
 * Creates a generation and, when asked, waits for it to end before answering (`Prefer: wait`):
 * woken by the generation's notices, bounded by the wait asked for, given up when the client goes
 * or the server stops.
 */
export class GenerationWaitService {
  private readonly waits = new Set<AbortController>();
  /** Set by stopAll: waits begun after it return at once. */
  private stopped = false;

  /**
   * `defaultWaitSeconds` (CREATE_WAIT_SECONDS): how long a create that states no preference waits,
   * so that clients written for a synchronous API (the seed's examples read `data.image_url` from
   * the create's answer) get the image in that answer.
   */
  constructor(
    private readonly generations: GenerationService,
    private readonly hub: EventHub,
    private readonly events: Pick<GenerationEvents, 'latestStatus'>,
    private readonly defaultWaitSeconds = 0,
  ) {}

  /** How long a create waits, as `waitSeconds` asks or by default. */
  secondsFor(waitSeconds: number | undefined): number {
    return waitSeconds ?? this.defaultWaitSeconds;
  }

  async create(userId: string, input: CreateGenerationRequest, options: CreateAndWait): Promise<Created> {
    const { representation } = options;
    const seconds = this.secondsFor(options.waitSeconds);
    // A wait answers the record as it reads it at the end, so the create's own (a replay's may be
    // completed) need not carry an image.
    const created = await this.generations.create(
      userId,
      input,
      options.idempotencyKey,
      seconds > 0 ? 'minimal' : representation,
    );
    if (seconds <= 0) return created;
    const id = created.generation.id;
    const read = () => this.generations.owned(userId, id).catch(() => null);
    const last = await this.waitForEnd(id, seconds * 1000, read, options.signal);
    // An ended record is final, so the one the wait read is answered as it is. Otherwise it is read
    // again: the wait may have slept through a change whose notice was lost.
    const generation =
      last && isTerminal(last.status)
        ? await this.generations.show(last, representation)
        : await this.generations.get(userId, id, representation);
    return { ...created, generation };
  }

  /**
   * The record (null when it is gone), read once the generation's events say it ended or cannot say
   * (none stored, or Redis away); undefined while its newest status is not an end. The events are
   * written after the record, so an end there is an end in the record. A wait is woken by its
   * generation's start and end, and looks once as it begins: reading the stream (Redis) each time
   * and the record (MongoDB, several times the cost) only at the end took two of the three reads
   * of the record off each waited create.
   */
  private async recordIfEnded(
    id: string,
    read: () => Promise<GenerationDocument | null>,
  ): Promise<GenerationDocument | null | undefined> {
    const status = await this.events.latestStatus(id, STATUS_LOOKBACK).catch(() => undefined);
    if (status !== undefined && !isTerminal(status)) return undefined;
    return read();
  }

  /** Ends every wait, so that a stopping server answers them now rather than at their bound. */
  stopAll(): void {
    this.stopped = true;
    for (const wait of this.waits) wait.abort();
  }

  /**
   * Resolves once the generation has ended, after `ms`, or on `signal` or a stop, whichever comes
   * first: with the record as last read (null if it could not be).
   */
  private async waitForEnd(
    id: string,
    ms: number,
    read: () => Promise<GenerationDocument | null>,
    signal: AbortSignal,
  ): Promise<GenerationDocument | null> {
    const stop = new AbortController();
    if (this.stopped) stop.abort();
    this.waits.add(stop);
    const abort = () => stop.abort();
    signal.addEventListener('abort', abort);
    let notices = 0;
    let wake = () => undefined as void;
    const unfollow = this.hub.follow(id, () => {
      notices++;
      wake();
    });
    const deadline = Date.now() + ms;
    try {
      for (;;) {
        const seen = notices;
        const doc = await this.recordIfEnded(id, read);
        const left = deadline - Date.now();
        if (doc === null || (doc && isTerminal(doc.status)) || left <= 0 || stop.signal.aborted) return doc ?? null;
        // Something happened while reading: read again rather than sleep past it.
        if (notices !== seen) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          stop.signal.addEventListener('abort', wake, { once: true });
        });
      }
    } finally {
      unfollow();
      signal.removeEventListener('abort', abort);
      this.waits.delete(stop);
    }
  }
}
