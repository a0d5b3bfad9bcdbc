import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ApiFailure, ApiSuccess } from '@imagegen/shared';

// The answers the document declares, built from the shared envelope schemas so that a route's
// documented body is the one its code sends.

export const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

const RetryAfter = z.object({
  'Retry-After': z.string().meta({ description: 'Seconds to wait before trying again' }),
});

/** A success in the envelope, `data` being of the given schema. */
export function success(description: string, data: z.ZodType, headers?: z.ZodObject): ResponseConfig {
  return { description, content: json(ApiSuccess(data)), ...(headers && { headers }) };
}

type RefusalStatus = 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 416 | 422 | 429 | 503;

/** What these refusals mean on every route that answers them. */
const GENERIC = {
  400: 'Invalid request: `errors` names each field at fault (a malformed JSON body has none)',
  401: 'Missing, invalid or expired bearer token',
  413: 'Request body too large',
  415: 'Content-Type must be application/json',
  503: 'A dependency (MongoDB, Redis) is unavailable: retry after Retry-After',
} as const;

/** Each status's description; `true` takes the generic one, where there is one. */
type Refusals = { [S in RefusalStatus]?: S extends keyof typeof GENERIC ? string | true : string };

/** The error envelope under each status; 429 and 503 carry Retry-After. */
export function refusals(statuses: Refusals): Partial<Record<RefusalStatus, ResponseConfig>> {
  const out: Partial<Record<RefusalStatus, ResponseConfig>> = {};
  for (const [key, text] of Object.entries(statuses)) {
    const status = Number(key) as RefusalStatus;
    const retries = status === 429 || status === 503;
    out[status] = {
      description: text === true ? GENERIC[status as keyof typeof GENERIC] : text,
      content: json(ApiFailure),
      ...(retries && { headers: RetryAfter }),
    };
  }
  return out;
}

/** Refusals of any `/api` route behind the bearer token that reads MongoDB or Redis. */
export const BEARER_REFUSALS = { 401: true, 503: true } as const;

/** Refusals of the JSON body parser in front of every `/api` route that takes a body. */
export const BODY_REFUSALS = { 400: true, 413: true, 415: true } as const;
