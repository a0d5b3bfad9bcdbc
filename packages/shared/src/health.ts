import { z } from 'zod';

/** `data` of `GET /healthz`: the process answers. */
export const Liveness = z.object({ status: z.literal('ok') });
export type Liveness = z.infer<typeof Liveness>;

export const DependencyState = z.enum(['ok', 'unreachable']);
export type DependencyState = z.infer<typeof DependencyState>;

/**
 * `GET /readyz`, in the envelope, but with `success` false (and 503) when the instance should be
 * sent no work: a dependency does not answer, or the process is shutting down.
 */
export const Readiness = z.object({
  success: z.boolean(),
  message: z.string(),
  data: z.union([
    z.object({ mongodb: DependencyState, redis: DependencyState }),
    z.object({ stopping: z.literal(true) }),
  ]),
});
export type Readiness = z.infer<typeof Readiness>;
