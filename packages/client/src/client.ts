import {
  AuthResult,
  CreateGenerationRequest,
  fieldErrors,
  isTerminal,
  LoginRequest,
  RegisterRequest,
  GenerationEvent,
  type Generation,
  type GenerationPage,
  type GenerationStatus,
  type GenerationSummary,
  type Liveness,
  type ModelList,
  type StreamToken,
  type WebhookDeliveries,
  type WebhookRedelivery,
  type WebhookSecretView,
} from '@imagegen/shared';
import type { z } from 'zod';
import { ConnectionError, GenerationError, ServerError, StreamUnavailableError, ValidationError } from './errors';
import { readEvents } from './sse';
import { sleep } from './sleep';
import { Transport, type RequestOptions, type TransportOptions } from './transport';

/** What `POST /api/generations` takes, before the API's defaults are applied. */
export type CreateGenerationInput = z.input<typeof CreateGenerationRequest>;
export type LoginInput = z.input<typeof LoginRequest>;
export type RegisterInput = z.input<typeof RegisterRequest>;

export type ClientOptions = TransportOptions;

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface CreateOptions extends CallOptions {
  /**
   * Makes the create safe to send again: the API answers a repeat with the first generation. One
   * is made when none is given, so that a create lost on the wire is retried without a duplicate.
   */
  idempotencyKey?: string;
  /** Hold the answer up to this many seconds (≤ 60) for the generation to end (`Prefer: wait`). */
  waitSeconds?: number;
}

export interface WaitOptions extends CallOptions {
  /** Each status change and notice ("model loading, retrying in 18 s"), as the stream carries them. */
  onEvent?: (event: GenerationEvent) => void;
  /** `auto` (the default): the live stream, and polling when it cannot be had. */
  via?: 'auto' | 'sse' | 'poll';
  /** The first wait between polls, growing to 5 s. Default 1 s. */
  pollIntervalMs?: number;
}

export interface GenerateOptions extends WaitOptions {
  idempotencyKey?: string;
  /** Cancel the generation when `signal` aborts (default true), so it stops using a worker. */
  cancelOnAbort?: boolean;
}

export interface ListOptions extends CallOptions {
  limit?: number;
  cursor?: string;
  status?: GenerationStatus;
}

/** One event of a generation's live stream; `id` is what a reconnect resumes from. */
export interface StreamedEvent {
  id: string | undefined;
  event: GenerationEvent;
}

export interface Image {
  mimeType: string;
  bytes: Uint8Array;
}

/** Reconnects to a live stream that broke before the end, before falling back to polling. */
const STREAM_RECONNECTS = 3;
const MAX_POLL_INTERVAL_MS = 5000;
/** The stream's event names the contract defines; others (from a newer API) are skipped. */
const EVENT_TYPES = new Set<string>(GenerationEvent.options.map((option) => option.shape.type.value));

/** A typed client for the whole imagegen API. Works in Node ≥ 18 and in browsers. */
export class ImagegenClient {
  readonly transport: Transport;

  constructor(options: ClientOptions) {
    this.transport = new Transport(options);
  }

  get token(): string | undefined {
    return this.transport.token;
  }

  set token(token: string | undefined) {
    this.transport.token = token;
  }

  /** Creates an account and uses its token from then on. */
  async register(body: RegisterInput, options: CallOptions = {}): Promise<AuthResult> {
    return this.authenticate('/api/auth/register', checked(RegisterRequest, body), options);
  }

  /** Logs in (with `name`, an unknown email creates the account) and uses the token from then on. */
  async login(body: LoginInput, options: CallOptions = {}): Promise<AuthResult> {
    return this.authenticate('/api/auth/login', checked(LoginRequest, body), options);
  }

  /** Queues a generation: the `pending` record at once (or the final one, with `waitSeconds`). */
  async createGeneration(body: CreateGenerationInput, options: CreateOptions = {}): Promise<Generation> {
    checked(CreateGenerationRequest, body);
    const headers: Record<string, string> = { 'Idempotency-Key': options.idempotencyKey ?? crypto.randomUUID() };
    if (options.waitSeconds !== undefined) headers.Prefer = `wait=${options.waitSeconds}`;
    return this.data('POST', '/api/generations', { body, headers, signal: options.signal, idempotent: true });
  }

  async getGeneration(id: string, options: CallOptions = {}): Promise<Generation> {
    return this.data('GET', generationPath(id), { signal: options.signal, idempotent: true });
  }

  /** One page of the user's generations, newest first, without image bytes. */
  async listGenerations(options: ListOptions = {}): Promise<GenerationPage> {
    const { limit, cursor, status, signal } = options;
    return this.data('GET', '/api/generations', { query: { limit, cursor, status }, signal, idempotent: true });
  }

  /** Every generation of the user's, newest first, a page at a time as the loop asks for them. */
  async *generations(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<GenerationSummary> {
    let cursor: string | undefined;
    do {
      const page = await this.listGenerations({ ...options, ...(cursor && { cursor }) });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  async cancelGeneration(id: string, options: CallOptions = {}): Promise<Generation> {
    return this.data('POST', `${generationPath(id)}/cancel`, { signal: options.signal, idempotent: false });
  }

  /** Runs a `failed` or `canceled` generation again. */
  async retryGeneration(id: string, options: CallOptions = {}): Promise<Generation> {
    return this.data('POST', `${generationPath(id)}/retry`, { signal: options.signal, idempotent: false });
  }

  /** The image bytes of a completed generation. */
  async getImage(id: string, options: CallOptions = {}): Promise<Image> {
    const response = await this.transport.send('GET', `${generationPath(id)}/image`, {
      signal: options.signal,
      idempotent: true,
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { mimeType: response.headers.get('content-type') ?? 'application/octet-stream', bytes };
  }

  /** A short-lived token and URL for a browser's `EventSource`, which cannot send headers. */
  async streamToken(id: string, options: CallOptions = {}): Promise<StreamToken> {
    return this.data('POST', `${generationPath(id)}/events/token`, { signal: options.signal, idempotent: true });
  }

  /**
   * The generation's live events over one connection: those after `lastEventId` (all, without
   * one), then each as it happens, until the final status. Nothing when `lastEventId` was the end.
   */
  async *events(id: string, options: CallOptions & { lastEventId?: string } = {}): AsyncGenerator<StreamedEvent> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (options.lastEventId) headers['Last-Event-ID'] = options.lastEventId;
    const response = await this.transport.send('GET', `${generationPath(id)}/events`, {
      headers,
      signal: options.signal,
      // Not retried here: reconnecting, from the last event, is `follow`'s job.
      idempotent: false,
    });
    if (response.status === 204 || !response.body) return;
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream')) {
      await response.body.cancel();
      throw new StreamUnavailableError(
        `The event stream answered with ${type || 'no Content-Type'} (a proxy in between?)`,
      );
    }
    try {
      for await (const { id: eventId, event, data } of readEvents(response.body)) {
        if (EVENT_TYPES.has(event)) yield { id: eventId, event: JSON.parse(data) as GenerationEvent };
      }
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new ConnectionError(`The event stream broke: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Waits for the generation to end, following its live stream (or polling), and returns the
   * completed record with its image; a `GenerationError` when it failed or was canceled. Given the
   * record a create or a retry answered, it follows on from it without reading it first, so that
   * no state of a quick run is missed.
   */
  async waitFor(generation: string | Generation, options: WaitOptions = {}): Promise<Generation> {
    const current = typeof generation === 'string' ? await this.getGeneration(generation, options) : generation;
    return this.waitForRun(current, options);
  }

  /**
   * Creates a generation and waits for it: the completed record, with `image_url`. Retried creates
   * carry one idempotency key, so a lost answer never makes a second image. When `signal` aborts,
   * the generation is canceled too (unless `cancelOnAbort` is false).
   */
  async generate(request: string | CreateGenerationInput, options: GenerateOptions = {}): Promise<Generation> {
    const body = typeof request === 'string' ? { prompt: request } : request;
    const created = await this.createGeneration(body, {
      signal: options.signal,
      idempotencyKey: options.idempotencyKey ?? crypto.randomUUID(),
    });
    options.onEvent?.({ type: 'status', status: created.status, generation: created });
    try {
      return await this.waitForRun(created, options);
    } catch (err) {
      if (options.signal?.aborted && options.cancelOnAbort !== false) {
        // Best effort: the caller's abort is what they should see, whatever the cancel answers.
        await this.cancelGeneration(created.id).catch(() => undefined);
      }
      throw err;
    }
  }

  /** The models a request may name, each with the providers that serve it, in the order they are tried. */
  async models(options: CallOptions = {}): Promise<ModelList> {
    return this.data('GET', '/api/models', { signal: options.signal, idempotent: true });
  }

  async webhookSecret(options: CallOptions = {}): Promise<WebhookSecretView> {
    return this.data('GET', '/api/webhooks/secret', { signal: options.signal, idempotent: true });
  }

  async rotateWebhookSecret(options: CallOptions = {}): Promise<WebhookSecretView> {
    return this.data('POST', '/api/webhooks/secret/rotate', { signal: options.signal, idempotent: false });
  }

  async webhookDeliveries(id: string, options: CallOptions = {}): Promise<WebhookDeliveries> {
    return this.data('GET', `${generationPath(id)}/webhook-deliveries`, { signal: options.signal, idempotent: true });
  }

  async redeliverWebhook(id: string, options: CallOptions = {}): Promise<WebhookRedelivery> {
    return this.data('POST', `${generationPath(id)}/webhook-deliveries/redeliver`, {
      signal: options.signal,
      idempotent: false,
    });
  }

  /** `GET /healthz`: the API process answers. */
  async health(options: CallOptions = {}): Promise<Liveness> {
    return this.data('GET', '/healthz', { signal: options.signal, idempotent: true });
  }

  private async authenticate(path: string, body: unknown, options: CallOptions): Promise<AuthResult> {
    const result = await this.data<AuthResult>('POST', path, { body, signal: options.signal, idempotent: false });
    this.token = result.token;
    return result;
  }

  private async data<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    return (await this.transport.json<T>(method, path, options)).data;
  }

  /** Waits for the run `current` is in to end (at once when it has). */
  private async waitForRun(current: Generation, options: WaitOptions): Promise<Generation> {
    const via = options.via ?? 'auto';
    let record = current;
    if (via !== 'poll' && !isTerminal(record.status)) {
      try {
        await this.follow(record.id, options);
        // Stream events carry the record without its image: read it whole once.
        record = await this.getGeneration(record.id, options);
      } catch (err) {
        const unavailable =
          err instanceof ConnectionError || err instanceof ServerError || err instanceof StreamUnavailableError;
        if (via === 'sse' || !unavailable) throw err;
      }
    }
    if (!isTerminal(record.status)) record = await this.poll(record.id, options);
    if (record.status !== 'completed') throw new GenerationError(record);
    return record;
  }

  /** The live stream until the final status, reconnecting from the last event when it breaks. */
  private async follow(id: string, options: WaitOptions): Promise<void> {
    let lastEventId: string | undefined;
    let reconnects = 0;
    for (;;) {
      let received = 0;
      try {
        for await (const streamed of this.events(id, { signal: options.signal, ...(lastEventId && { lastEventId }) })) {
          received++;
          lastEventId = streamed.id ?? lastEventId;
          const { event } = streamed;
          options.onEvent?.(event);
          if (event.type === 'status' && isTerminal(event.status)) return;
        }
        // Nothing at all: the API said the end was had (204), or is stopping; the caller reads the record.
        if (received === 0) return;
        reconnects = 0;
      } catch (err) {
        if (received > 0) reconnects = 0;
        if (!(err instanceof ConnectionError) || ++reconnects > STREAM_RECONNECTS) throw err;
      }
      // The stream broke, or ended before the final status: resume after the last event.
      await sleep(500 * 2 ** reconnects, options.signal);
    }
  }

  /** Reads the record until it ends, telling `onEvent` each change of status or queue position. */
  private async poll(id: string, options: WaitOptions): Promise<Generation> {
    let interval = options.pollIntervalMs ?? 1000;
    let seen = '';
    for (;;) {
      const record = await this.getGeneration(id, options);
      const now = `${record.status}:${record.queue_position ?? ''}`;
      if (now !== seen) options.onEvent?.({ type: 'status', status: record.status, generation: record });
      seen = now;
      if (isTerminal(record.status)) return record;
      await sleep(interval, options.signal);
      interval = Math.min(interval * 1.5, MAX_POLL_INTERVAL_MS);
    }
  }
}

/** The image of a completed generation, from its `image_url` data URL. */
export function imageOf(generation: Pick<Generation, 'image_url'>): Image {
  const match = /^data:([^;,]+);base64,(.*)$/.exec(generation.image_url ?? '');
  if (!match) throw new TypeError('The generation has no image (it is not completed)');
  const binary = atob(match[2] ?? '');
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return { mimeType: match[1] ?? '', bytes };
}

/** The request body as the API will see it, or the same 400 it would answer, without the round trip. */
function checked<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw new ValidationError(400, 'Invalid request', { errors: fieldErrors(result.error) });
  return result.data;
}

function generationPath(id: string): string {
  return `/api/generations/${encodeURIComponent(id)}`;
}
