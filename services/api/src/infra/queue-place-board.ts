import type { QueuePlace } from '@imagegen/shared';
import type { GenerationDocument } from '@imagegen/core';
import type { QueueStandings } from './queue-standing';

type Listener = (place: QueuePlace) => void;

/**
 * The places of every pending generation this instance streams, read once per interval for all of
 * them: one owner per API instance reads the queue and tells each stream its generation's place.
 * Read per stream, a thousand open streams cost a thousand reads of the wait list each interval.
 */
export class QueuePlaceBoard {
  private readonly followers = new Map<Listener, GenerationDocument>();
  private timer: NodeJS.Timeout | null = null;
  private reading = false;

  constructor(
    private readonly standings: QueueStandings,
    private readonly intervalMs: number,
  ) {}

  /** Calls `listener` with the generation's place after each read, until the returned unfollow. */
  follow(generation: GenerationDocument, listener: Listener): () => void {
    this.followers.set(listener, generation);
    this.timer ??= setInterval(() => void this.read(), this.intervalMs);
    return () => {
      this.followers.delete(listener);
      if (this.followers.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async read(): Promise<void> {
    // A read slower than the interval is not doubled up: the next tick reads again.
    if (this.reading) return;
    this.reading = true;
    try {
      const snapshot = await this.standings.snapshot();
      for (const [listener, generation] of [...this.followers]) {
        if (this.followers.has(listener)) listener(snapshot.placeOf(generation));
      }
    } catch {
      // Redis away: each stream keeps the place it last told, and the next read tells the new one.
    } finally {
      this.reading = false;
    }
  }
}
