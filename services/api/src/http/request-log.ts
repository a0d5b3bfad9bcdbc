import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '@imagegen/core';

/** An `X-Request-Id` from a proxy or client is kept if it is plain enough to log and echo safely. */
const ACCEPTED_ID = /^[\w.:@/+=-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers[REQUEST_ID_HEADER];
  const id = typeof given === 'string' && ACCEPTED_ID.test(given) ? given : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/** The id `requestLog` gave the request of this answer, for other lines about it. */
export function requestIdOf(res: Response): string | undefined {
  const id = res.getHeader(REQUEST_ID_HEADER);
  return typeof id === 'string' ? id : undefined;
}

/**
 * Gives each request an id (the caller's `X-Request-Id` or a new one), sends it back in the answer,
 * and logs one line when the answer is sent or the connection closes first: the id (`reqId`),
 * method, path, status and time taken, as pino-http wrote it. Nothing else of the request is
 * logged: headers carry tokens and cookies, and query strings stream tokens. No child logger is
 * made per request: below `info` a successful request costs no logging at all.
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const id = requestId(req, res);
    const started = Date.now();
    const done = (err?: unknown) => {
      res.off('finish', done);
      res.off('close', done);
      res.off('error', done);
      const failed = err !== undefined || res.statusCode >= 500;
      if (!failed && !logger.isLevelEnabled('info')) return;
      const line = {
        reqId: id,
        req: { id, method: req.method, path: req.originalUrl.split('?', 1)[0] },
        res: { statusCode: res.statusCode },
        responseTime: Date.now() - started,
      };
      if (failed) {
        logger.error(
          { ...line, err: err ?? new Error(`failed with status code ${res.statusCode}`) },
          'request errored',
        );
      } else {
        logger.info(line, !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted');
      }
    };
    res.on('finish', done);
    res.on('close', done);
    res.on('error', done);
    next();
  };
}
