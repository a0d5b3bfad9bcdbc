import { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import { securityHeaders } from '../src/http/security-headers';

const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, imgSrc: ["'self'", 'data:', 'blob:'] } },
};

/** The headers an answer carries once `middleware` ran on it, in the order they were set. */
function headersAfter(middleware: (req: Request, res: Response, next: NextFunction) => unknown): [string, unknown][] {
  const req = new IncomingMessage(null as never);
  const res = new ServerResponse(req);
  res.setHeader('X-Powered-By', 'Express');
  let passed = false;
  middleware(req as Request, res as unknown as Response, () => (passed = true));
  expect(passed).toBe(true);
  return Object.entries(res.getHeaders());
}

test("when the headers worked out once are set, then the answer carries exactly helmet's, in helmet's order", () => {
  const helmets = headersAfter(helmet(OPTIONS));
  expect(helmets.length).toBeGreaterThan(10);
  expect(headersAfter(securityHeaders(OPTIONS))).toEqual(helmets);
});

test('when the options change the headers, then the headers worked out once change with them', () => {
  const framed: HelmetOptions = {
    contentSecurityPolicy: OPTIONS.contentSecurityPolicy,
    frameguard: { action: 'deny' },
  };
  expect(headersAfter(securityHeaders(framed))).toEqual(headersAfter(helmet(framed)));
  expect(headersAfter(securityHeaders(framed))).not.toEqual(headersAfter(securityHeaders(OPTIONS)));
});
