import { z } from 'zod';

/** `GET /api/admin/queues`: each queue's jobs per state, the workers connected, and whether it is paused. */
export const QueueOverview = z.object({
  name: z.string(),
  counts: z.record(z.string(), z.int()),
  workers: z.int(),
  paused: z.boolean(),
});
export type QueueOverview = z.infer<typeof QueueOverview>;

export const QueuesOverview = z.object({ queues: z.array(QueueOverview) });
export type QueuesOverview = z.infer<typeof QueuesOverview>;
