/**
 * The reasons a running job's abort signal is given, so that its processor can tell a job to hand
 * back from one to end.
 */
export const ABORT_REASONS = {
  /** A stopping worker: its running jobs hand themselves back. */
  shutdown: 'worker shutting down',
  /** The job's generation was canceled (by its owner or its deadline). */
  canceled: 'generation canceled',
} as const;
