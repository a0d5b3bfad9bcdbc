import type { RequestHandler } from 'express';
import { AppError } from '../errors';

/** A request with a body must send JSON; anything else would reach the schemas as an empty object. */
export const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody =
    req.get('content-length') !== undefined
      ? req.get('content-length') !== '0'
      : req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    throw new AppError(415, 'Content-Type must be application/json');
  }
  next();
};
