import type { ServerResponse } from 'node:http';

/**
 * Answers a test server holds back (a scripted delay, or until the test releases it). Each ends
 * early when its client goes away, and `releaseAll` ends them all, so that no held answer outlives
 * its test file.
 */
export class HeldAnswers {
  private readonly pending = new Set<() => void>();

  /** Waits `ms`, or less if the client goes away first or everything is released. */
  delay(ms: number, res: ServerResponse): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return this.hold((end) => (timer = setTimeout(end, ms)), res).finally(() => clearTimeout(timer));
  }

  /** Waits until `start`'s callback is called, or less if the client goes away first or everything is released. */
  hold(start: (end: () => void) => void, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        res.off('close', end);
        this.pending.delete(end);
        resolve();
      };
      res.once('close', end);
      this.pending.add(end);
      start(end);
    });
  }

  releaseAll(): void {
    for (const end of this.pending) end();
  }
}
