import type { FieldError } from '@imagegen/shared';

/**
 * The one error family of the API. Services throw these; the error middleware is the only place
 * that turns them into HTTP answers.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: FieldError[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], message = 'Invalid request') {
    super(400, message, errors);
  }
}

/**
 * A well-formed request this deployment cannot serve as asked (a model no provider serves here, a
 * provider it does not use): `errors` names the field to change. 400 stays for requests the schema refuses.
 */
export class UnprocessableError extends AppError {
  constructor(errors: FieldError[], message = 'Cannot serve this request here') {
    super(422, message, errors);
  }
}

export class UnauthorizedError extends AppError {
  /** `errors`: the field at fault, where the request itself carried the credential (a password). */
  constructor(message = 'Authentication required', errors?: FieldError[]) {
    super(401, message, errors);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Not allowed') {
    super(403, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super(404, message);
  }
}

export class GoneError extends AppError {
  constructor(message: string) {
    super(410, message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, message);
  }
}

/** Too many requests: `retryAfterSeconds` goes into the Retry-After header. */
export class RateLimitedError extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, message);
  }
}

/** A dependency (MongoDB, Redis) is down: the request may be retried later. */
export class ServiceUnavailableError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(503, message, undefined, { cause });
  }
}
