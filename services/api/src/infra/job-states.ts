import type { JobType } from 'bullmq';

/** The queue states operators watch (dashboard counts, queue-depth metrics), in BullMQ's names. */
export const JOB_STATES: JobType[] = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
];
