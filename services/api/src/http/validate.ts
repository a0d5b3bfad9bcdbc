import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import { fieldErrors } from '@imagegen/shared';
import { ValidationError } from '../errors';

type Source = 'body' | 'query' | 'params' | 'headers';

/**
 * Parses one part of the request with a zod schema and hands the parsed value on in
 * `res.locals[source]`. Routes read only that, never the raw `req.body`.
 */
export function validate(source: Source, schema: z.ZodType): RequestHandler {
  return (req, res, next) => {
    const result = schema.safeParse(raw(req, source));
    if (!result.success) {
      throw new ValidationError(fieldErrors(result.error, source === 'body' ? '' : `${source}.`));
    }
    res.locals[source] = result.data;
    next();
  };
}

function raw(req: Request, source: Source): unknown {
  if (source === 'body') return req.body ?? {};
  if (source === 'headers') return req.headers;
  return source === 'query' ? req.query : req.params;
}
