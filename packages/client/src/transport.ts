import type { ApiFailure, FieldError } from '@imagegen/shared';
import { apiError, ConnectionError, type ApiError } from './errors';
import { sleep } from './sleep';

export interface TransportOptions {
  /** Where the API is, such as `http://localhost:8000`. */
  baseUrl: string;
  /** A bearer token (from `login`), sent on every request. */
  token?: string | undefined;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
  /** Tries after the first for a failure that may pass (connection lost, 429, 502–504). Default 3. */
  retries?: number;
  /** The first wait before a retry, doubled on each (unless the API says `Retry-After`). Default 500 ms. */
  retryDelayMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /**
   * Whether sending it twice is harmless (reads, and creates that carry an Idempotency-Key): only
   * then is it sent again after a lost connection or a 5xx. A 429 was not acted on, so it is always
   * retried.
   */
  idempotent: boolean;
}

/** The longest wait a retry will make, even when the API asks for more: then the error is thrown. */
const MAX_RETRY_WAIT_MS = 30_000;
const RETRIED_STATUSES = new Set([502, 503, 504]);

/** HTTP to the API: URLs, the bearer token, the envelope, typed errors and retries. */
export class Transport {
  readonly baseUrl: string;
  token: string | undefined;
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly retryDelayMs: number;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.retries = options.retries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 500;
  }

  /** `data` of the answer's envelope. */
  async json<T>(method: string, path: string, options: RequestOptions): Promise<{ data: T; response: Response }> {
    const response = await this.send(method, path, {
      ...options,
      headers: { Accept: 'application/json', ...options.headers },
    });
    const body = (await response.json()) as { data: T };
    return { data: body.data, response };
  }

  /** The answer, once it has a 2xx status (after retries); an `ApiError` otherwise. */
  async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.fetchOnce(method, path, options).then(
        async (response) => (response.ok ? response : await errorOf(response)),
        (err: unknown) => {
          if (err instanceof ConnectionError) return err;
          throw err;
        },
      );
      if (outcome instanceof Response) return outcome;
      const wait = this.waitBefore(attempt, outcome);
      if (!mayRetry(outcome, options.idempotent) || attempt >= this.retries || wait > MAX_RETRY_WAIT_MS) {
        throw outcome;
      }
      await sleep(wait, options.signal);
    }
  }

  /** An absolute URL of the API. */
  url(path: string, query: RequestOptions['query'] = {}): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  private async fetchOnce(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await this.fetch(this.url(path, options.query), {
        method,
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        signal: options.signal ?? null,
      });
    } catch (err) {
      // An abort is the caller's own doing: it goes up as it is, never retried.
      if (options.signal?.aborted) throw options.signal.reason;
      throw new ConnectionError(`Could not reach ${this.baseUrl}: ${reasonOf(err)}`, { cause: err });
    }
  }

  private waitBefore(attempt: number, failure: ApiError | ConnectionError): number {
    const asked = 'retryAfterSeconds' in failure ? failure.retryAfterSeconds : undefined;
    return asked !== undefined ? asked * 1000 : this.retryDelayMs * 2 ** attempt;
  }
}

function mayRetry(failure: ApiError | ConnectionError, idempotent: boolean): boolean {
  if (failure instanceof ConnectionError) return idempotent;
  return failure.status === 429 || (idempotent && RETRIED_STATUSES.has(failure.status));
}

/** The typed error of an error answer, from its envelope when it has one. */
async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  let body: Partial<ApiFailure> = {};
  try {
    body = JSON.parse(text) as Partial<ApiFailure>;
  } catch {
    // A proxy's HTML page, say: the status line is all there is to go on.
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  return apiError(response.status, body.message ?? `HTTP ${response.status} ${response.statusText}`.trim(), {
    errors: Array.isArray(body.errors) ? (body.errors as FieldError[]) : [],
    requestId: response.headers.get('x-request-id') ?? undefined,
    retryAfterSeconds: response.headers.has('retry-after') && Number.isFinite(retryAfter) ? retryAfter : undefined,
  });
}

/** Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, a reset) is in its cause. */
function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
