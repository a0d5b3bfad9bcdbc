import { setTimeout as sleep } from 'node:timers/promises';
import { isMongoOutage } from '@imagegen/core';

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5_000;

/**
 * Runs a write, retrying it with backoff while MongoDB is unreachable, for at most `boundMs`; other
 * errors, and the outage once the bound is spent, are thrown. For the writes that come after
 * Hugging Face answered: the image is paid for, so it is worth waiting for the database.
 */
export async function retryWhileOutage<T>(write: () => Promise<T>, boundMs: number): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (let delay = FIRST_DELAY_MS; ; delay = Math.min(delay * 2, MAX_DELAY_MS)) {
    try {
      return await write();
    } catch (err) {
      if (!isMongoOutage(err) || Date.now() + delay > deadline) throw err;
      await sleep(delay);
    }
  }
}
