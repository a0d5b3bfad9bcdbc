import type { RedisClient } from '@imagegen/core';
import type { Logger } from '@imagegen/core';
import { SweepLock } from './sweep-lock';
import type { RetentionKind, SweepObserver, SweepTask } from './sweep-task';

export interface SweeperOptions {
  /** How often a pass runs: one worker's, across all of them. */
  intervalMs: number;
  /** The time the sweep goes by; tests give a clock of their own. */
  now: () => Date;
}

export type Removed = Partial<Record<RetentionKind, number>>;

/**
 * Runs the retention sweep: every interval, one worker's pass works through each kind, a batch of
 * each at most, so a large backlog is worked off over several passes without holding the database.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;
  private readonly lock: SweepLock;

  constructor(
    private readonly deps: {
      tasks: SweepTask[];
      redis: RedisClient;
      queuePrefix: string;
      logger: Logger;
      observer: SweepObserver;
    },
    private readonly options: SweeperOptions,
  ) {
    this.lock = new SweepLock(deps.redis, deps.queuePrefix, options.intervalMs);
  }

  start(): void {
    this.timer = setInterval(() => {
      // A pass still at work (a slow store, a large backlog) is not joined by a second one.
      if (this.running) return;
      this.running = this.pass()
        .catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'retention sweep failed'))
        .finally(() => (this.running = null));
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass, unless one ran in this interval already or one still runs; what it removed, by kind. */
  async pass(): Promise<Removed | null> {
    const now = this.options.now();
    const release = await this.lock.claim(now);
    if (!release) return null;
    try {
      return await this.sweep(now);
    } finally {
      await release();
    }
  }

  private async sweep(now: Date): Promise<Removed> {
    const started = performance.now();
    const removed: Removed = {};
    for (const task of this.deps.tasks) {
      // One kind that fails (its store away) does not stop the others; the next pass tries again.
      try {
        const count = await task.run(now);
        removed[task.kind] = count;
        this.deps.observer.retentionRemoved(task.kind, count);
      } catch (err) {
        this.deps.logger.warn({ kind: task.kind, err: (err as Error).message }, 'retention sweep of one kind failed');
      }
    }
    this.deps.observer.sweepPassEnded((performance.now() - started) / 1000);
    if (Object.values(removed).some((count) => count > 0)) {
      this.deps.logger.info({ removed }, 'retention sweep removed expired data');
    }
    return removed;
  }
}
