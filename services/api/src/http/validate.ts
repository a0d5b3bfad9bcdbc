import type { Request } from 'express';
import type { z } from 'zod';
import { fieldErrors } from '@imagegen/shared';
import { ValidationError } from '../errors';

type Source = 'body' | 'query' | 'params' | 'headers';

/**
 * One part of the request as its schema parses it (undefined where the route declares none);
 * handlers see only this, never the raw `req.body`. A refusal names each field at fault.
 */
export function parsePart<S extends z.ZodType | undefined>(
  req: Request,
  source: Source,
  schema: S,
): S extends z.ZodType ? z.output<S> : undefined;
export function parsePart(req: Request, source: Source, schema: z.ZodType | undefined): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(raw(req, source));
  if (!result.success) throw new ValidationError(fieldErrors(result.error, source === 'body' ? '' : `${source}.`));
  return result.data;
}

function raw(req: Request, source: Source): unknown {
  if (source === 'body') return req.body ?? {};
  if (source === 'headers') return req.headers;
  return source === 'query' ? req.query : req.params;
}
