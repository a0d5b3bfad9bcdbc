import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's headers, worked out once: with options fixed at start-up (no per-request CSP nonce)
 * its answer is the same for every request, so they are read off one run of helmet and set as
 * they are, in helmet's order, rather than by its dozen middlewares on every request.
 */
export function securityHeaders(options: HelmetOptions): RequestHandler {
  const headers: [string, string][] = [];
  const removed: string[] = [];
  const capture = {
    setHeader: (name: string, value: unknown) => headers.push([name, String(value)]),
    removeHeader: (name: string) => removed.push(name),
  };
  let ran = false;
  helmet(options)({ headers: {} } as IncomingMessage, capture as unknown as ServerResponse, () => (ran = true));
  // helmet answers synchronously; should a version not, its headers would be missed, silently.
  if (!ran) throw new Error('helmet did not finish at once: its headers cannot be worked out ahead');
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    for (const name of removed) res.removeHeader(name);
    next();
  };
}
