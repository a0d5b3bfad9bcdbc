/**
 * Where BullMQ keeps a queue's jobs in Redis: the one place that knows its key layout, which is
 * BullMQ's own and may change with it (test/bullmq-keys.test.ts notices). `wait` and `active` are
 * lists of job ids: BullMQ adds a job at the head of `wait` and a worker takes the one at its tail.
 */
export function bullmqKeys(queue: { name: string; opts: { prefix?: string | undefined } }) {
  const base = `${queue.opts.prefix ?? 'bull'}:${queue.name}`;
  return { wait: `${base}:wait`, active: `${base}:active` };
}
