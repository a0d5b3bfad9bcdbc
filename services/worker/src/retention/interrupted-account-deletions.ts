import { before, type SweepTask } from './sweep-task';

/** Finishes account deletions that stopped partway (AccountDeleter). */
export interface InterruptedDeletions {
  resumeInterrupted(olderThan: Date, limit: number): Promise<number>;
}

/**
 * A deletion that has not moved for this long is taken for interrupted: the API that started it
 * works through a large account in batches, and this leaves it the time to finish on its own.
 */
export const ACCOUNT_RESUME_AFTER_MS = 15 * 60_000;

/** Accounts resumed per pass: each is a whole account's data, so a few at a time. */
const ACCOUNTS_PER_PASS = 5;

/** Resumes the account deletions a crash or a restart of the API interrupted. */
export class InterruptedAccountDeletions implements SweepTask {
  readonly kind = 'accounts';

  constructor(private readonly accounts: InterruptedDeletions) {}

  run(now: Date): Promise<number> {
    return this.accounts.resumeInterrupted(before(now, ACCOUNT_RESUME_AFTER_MS), ACCOUNTS_PER_PASS);
  }
}
