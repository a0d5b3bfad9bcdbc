import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { ApiFailure } from '@imagegen/shared';
import { isDependencyOutage, type Logger } from '@imagegen/core';
import { AppError, NotFoundError, RateLimitedError } from '../errors';
import { requestIdOf } from './request-log';

/** Errors body-parser raises carry a `type`; these are the client's fault. */
const BODY_ERRORS: Record<string, { status: number; message: string }> = {
  'entity.parse.failed': { status: 400, message: 'Malformed JSON body' },
  'entity.too.large': { status: 413, message: 'Request body is too large' },
  'encoding.unsupported': { status: 415, message: 'Unsupported content encoding' },
  'charset.unsupported': { status: 415, message: 'Unsupported charset' },
};

const REPRESENTATION_HEADERS = ['Content-Type', 'Content-Length', 'ETag', 'Last-Modified', 'Accept-Ranges'];

export const notFoundRoute: RequestHandler = (req) => {
  throw new NotFoundError(`No route for ${req.method} ${req.path}`);
};

/** The one place where errors become HTTP answers; unknown errors are logged and never leaked. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const { status, body } = toResponse(err);
    if (status >= 500) {
      logger.error({ reqId: requestIdOf(res), err, method: req.method, path: req.path, status }, 'request failed');
    }
    if (status === 503) res.set('Retry-After', '5');
    if (err instanceof RateLimitedError) res.set('Retry-After', String(err.retryAfterSeconds));
    // A route may have described what it was about to send (an image's type, validator and
    // year-long caching) before it failed: the error must not go out under those headers.
    for (const header of REPRESENTATION_HEADERS) res.removeHeader(header);
    res.set('Cache-Control', 'no-store');
    res.status(status).json(body);
  };
}

function toResponse(err: unknown): { status: number; body: ApiFailure } {
  if (err instanceof AppError) {
    return {
      status: err.status,
      body: { success: false, message: err.message, ...(err.errors && { errors: err.errors }) },
    };
  }
  const bodyError = typeof err === 'object' && err !== null && 'type' in err && BODY_ERRORS[String(err.type)];
  if (bodyError) return { status: bodyError.status, body: { success: false, message: bodyError.message } };
  // Other client errors raised by Express and its parsers (a malformed URL escape, a corrupt
  // compressed body) carry http-errors' status and mark their message safe to show.
  if (isExposedClientError(err)) return { status: err.status, body: { success: false, message: err.message } };
  if (isDependencyOutage(err)) {
    return { status: 503, body: { success: false, message: 'Service temporarily unavailable; retry shortly' } };
  }
  return { status: 500, body: { success: false, message: 'Internal server error' } };
}

function isExposedClientError(err: unknown): err is { status: number; message: string } {
  if (typeof err !== 'object' || err === null) return false;
  const { status, expose } = err as { status?: unknown; expose?: unknown };
  // The router's URIError for a malformed path escape has a status but no `expose`.
  const safe = expose === true || err instanceof URIError;
  return safe && typeof status === 'number' && status >= 400 && status < 500;
}
