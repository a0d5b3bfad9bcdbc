import { fieldErrors } from '@imagegen/shared';
import type { z } from 'zod';
import { ValidationError } from './errors';

/** The request body as the API will see it, or the same 400 it would answer, without the round trip. */
export function checked<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw new ValidationError(400, 'Invalid request', { errors: fieldErrors(result.error) });
  return result.data;
}
