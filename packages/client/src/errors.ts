import type { FieldError, Generation, GenerationSummary } from '@imagegen/shared';

/** Every error this client throws, so that callers can tell ours from their own. */
export class ImagegenError extends Error {
  override name = 'ImagegenError';
}

/** The API could not be reached, or the connection broke before an answer. */
export class ConnectionError extends ImagegenError {
  override name = 'ConnectionError';
}

/**
 * The live event stream cannot be had on this path: something in between answered it with another
 * kind of body (a proxy that buffers or rewrites). Polling still works.
 */
export class StreamUnavailableError extends ImagegenError {
  override name = 'StreamUnavailableError';
}

/** What an API error answer carried besides its status. */
export interface ApiErrorDetails {
  /** The fields at fault (`body.width`, `query.limit`, ...) on a 400. */
  errors?: FieldError[];
  /** The API's `X-Request-Id`, to quote when reporting a problem. */
  requestId?: string;
  /** From `Retry-After` on a 429 or 503. */
  retryAfterSeconds?: number;
}

/** The API answered with an error status; `message` is the API's own. */
export class ApiError extends ImagegenError {
  override name = 'ApiError';
  readonly errors: FieldError[];
  readonly requestId: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly status: number,
    message: string,
    details: ApiErrorDetails = {},
  ) {
    super(message);
    this.errors = details.errors ?? [];
    this.requestId = details.requestId;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** 400 or 422: the request was refused; `errors` names the fields at fault. */
export class ValidationError extends ApiError {
  override name = 'ValidationError';
}
/** 401: no token, a wrong or expired one, or a wrong email and password. */
export class AuthenticationError extends ApiError {
  override name = 'AuthenticationError';
}
/** 403: the account may not do this. */
export class PermissionError extends ApiError {
  override name = 'PermissionError';
}
/** 404: no such route, or no such generation of this user's. */
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}
/** 409: the state forbids it, such as canceling an ended generation. */
export class ConflictError extends ApiError {
  override name = 'ConflictError';
}
/** 429: too many requests, or too many generations in flight; see `retryAfterSeconds`. */
export class RateLimitError extends ApiError {
  override name = 'RateLimitError';
}
/** 5xx: the API or one of its dependencies failed. */
export class ServerError extends ApiError {
  override name = 'ServerError';
}

const BY_STATUS: Record<number, typeof ApiError> = {
  400: ValidationError,
  401: AuthenticationError,
  403: PermissionError,
  404: NotFoundError,
  409: ConflictError,
  413: ValidationError,
  415: ValidationError,
  422: ValidationError,
  429: RateLimitError,
};

/** The typed error for an error answer. */
export function apiError(status: number, message: string, details: ApiErrorDetails): ApiError {
  const Type = BY_STATUS[status] ?? (status >= 500 ? ServerError : ApiError);
  return new Type(status, message, details);
}

/** A generation that ended `failed` or `canceled`: `generation` holds its record, `error` why. */
export class GenerationError extends ImagegenError {
  override name = 'GenerationError';

  constructor(readonly generation: Generation | GenerationSummary) {
    super(
      generation.status === 'canceled'
        ? `Generation ${generation.id} was canceled${generation.cancel_reason === 'deadline' ? ' (deadline)' : ''}`
        : `Generation ${generation.id} failed: ${generation.error ?? 'no reason given'}`,
    );
  }
}
