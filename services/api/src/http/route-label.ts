import type { RequestHandler, Response } from 'express';

const labels = new WeakMap<Response, string>();

/**
 * Names the route pattern that took the request (`/api/generations/:id`), for the metrics: the
 * pattern as declared, never the path the request came in on, so no request makes a new series.
 */
export function labelRoute(pattern: string): RequestHandler {
  return (_req, res, next) => {
    labels.set(res, pattern);
    next();
  };
}

/** The pattern of the last route that took the request, if one did. */
export function routeLabelOf(res: Response): string | undefined {
  return labels.get(res);
}
