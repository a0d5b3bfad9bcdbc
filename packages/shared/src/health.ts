import { z } from 'zod';

/** `data` of `GET /healthz`: the process answers. */
export const Liveness = z.object({ status: z.literal('ok') });
export type Liveness = z.infer<typeof Liveness>;

export const DependencyState = z.enum(['ok', 'unreachable']);
export type DependencyState = z.infer<typeof DependencyState>;

/** `saturated`: the API's password hashing queue is full, so sign-ins and registrations get 503 for now. */
export const HashingState = z.enum(['ok', 'saturated']);
export type HashingState = z.infer<typeof HashingState>;

/**
 * `GET /readyz`, in the envelope, but with `success` false (and 503) when the instance should be
 * sent no work: a dependency does not answer, its password hashing is saturated, or the process
 * is shutting down.
 */
export const Readiness = z.object({
  success: z.boolean(),
  message: z.string(),
  data: z.union([
    z.object({ mongodb: DependencyState, redis: DependencyState, password_hashing: HashingState }),
    z.object({ stopping: z.literal(true) }),
  ]),
});
export type Readiness = z.infer<typeof Readiness>;
