import {
  AuthResult,
  CreateGenerationRequest,
  DeleteAccountRequest,
  LoginRequest,
  RegisterRequest,
  type Generation,
  type GenerationPage,
  type GenerationSummary,
  type Liveness,
  type ModelList,
  type StreamToken,
  type UsageReport,
  type WebhookDeliveries,
  type WebhookRedelivery,
  type WebhookSecretView,
} from '@imagegen/shared';
import type {
  CallOptions,
  ClientOptions,
  CreateGenerationInput,
  CreateOptions,
  DeleteAccountInput,
  GenerateOptions,
  ImageOptions,
  ListOptions,
  LoginInput,
  RecordOptions,
  RegisterInput,
  StreamedEvent,
  UsageOptions,
  WaitOptions,
} from './client-options';
import { generationEvents } from './generation-events';
import { waitForRun } from './generation-wait';
import type { Image } from './image';
import { checked } from './request-check';
import { Transport, type RequestOptions } from './transport';

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

  /**
   * Deletes the account and everything it owns, then forgets the token. The password confirms it;
   * without one, only a token issued in the last five minutes does (else a `PermissionError`).
   */
  async deleteAccount(body: DeleteAccountInput = {}, options: CallOptions = {}): Promise<void> {
    const request = checked(DeleteAccountRequest, body);
    await this.transport.send('DELETE', '/api/users/me', {
      // No password, no body: the API then goes by how fresh the token is.
      ...(request.password !== undefined && { body: request }),
      signal: options.signal,
      idempotent: false,
    });
    this.token = undefined;
  }

  /** Queues a generation: the `pending` record at once (or the final one, with `waitSeconds`). */
  async createGeneration(body: CreateGenerationInput, options: CreateOptions = {}): Promise<Generation> {
    checked(CreateGenerationRequest, body);
    const headers: Record<string, string> = { 'Idempotency-Key': options.idempotencyKey ?? crypto.randomUUID() };
    const prefer = preferences(options);
    if (prefer) headers.Prefer = prefer;
    return this.data('POST', '/api/generations', { body, headers, signal: options.signal, idempotent: true });
  }

  async getGeneration(id: string, options: RecordOptions = {}): Promise<Generation> {
    const prefer = preferences(options);
    const headers = prefer ? { Prefer: prefer } : undefined;
    return this.data('GET', generationPath(id), { headers, signal: options.signal, idempotent: true });
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

  /**
   * Deletes the generation, canceling it first if it is still running: its record, image, events,
   * webhook log and jobs all go. A `NotFoundError` when there is no such generation of the user's.
   */
  async deleteGeneration(id: string, options: CallOptions = {}): Promise<void> {
    // Not sent again after a lost answer: a repeat of a delete that went through would say 404.
    await this.transport.send('DELETE', generationPath(id), { signal: options.signal, idempotent: false });
  }

  /**
   * The bytes of a completed generation's image: the first, or image `index` of several; as the
   * provider made it, or a `width`-wide WebP thumbnail, or converted to `format`.
   */
  async getImage(id: string, options: ImageOptions = {}): Promise<Image> {
    const { index, width, format, signal } = options;
    const path = `${generationPath(id)}${index === undefined ? '/image' : `/images/${index}`}`;
    const response = await this.transport.send('GET', path, { query: { width, format }, signal, idempotent: true });
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
    yield* generationEvents(this.transport, `${generationPath(id)}/events`, options);
  }

  /**
   * Waits for the generation to end, following its live stream (or polling), and returns the
   * completed record with its image; a `GenerationError` when it failed or was canceled. Given the
   * record a create or a retry answered, it follows on from it without reading it first, so that
   * no state of a quick run is missed.
   */
  async waitFor(generation: string | Generation, options: WaitOptions = {}): Promise<Generation> {
    const current = typeof generation === 'string' ? await this.getGeneration(generation, options) : generation;
    return waitForRun(this, current, options);
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
      return await waitForRun(this, created, options);
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

  /**
   * Your usage from `from` to `to` (UTC days `YYYY-MM-DD`, both included; the current month when
   * left out) by day, model and provider, and where your daily and monthly image quotas stand now.
   */
  async usage(options: UsageOptions = {}): Promise<UsageReport> {
    const { from, to, signal } = options;
    return this.data('GET', '/api/usage', { query: { from, to }, signal, idempotent: true });
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
}

function generationPath(id: string): string {
  return `/api/generations/${encodeURIComponent(id)}`;
}

/** The `Prefer` header of `options`: a wait, and `return=minimal`. */
function preferences({ waitSeconds, minimal }: { waitSeconds?: number; minimal?: boolean }): string | undefined {
  const asked = [...(waitSeconds !== undefined ? [`wait=${waitSeconds}`] : []), ...(minimal ? ['return=minimal'] : [])];
  return asked.length ? asked.join(', ') : undefined;
}
