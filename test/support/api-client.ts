import type {
  ApiFailure,
  ApiSuccess,
  Generation,
  GenerationPage,
  GenerationStatus,
  WebhookDeliveries,
  WebhookSecretView,
} from '@imagegen/shared';

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** A thin JSON client over fetch for talking to the API under test. */
/**
 * A fetch request with a bearer token and a JSON body: an object is sent as JSON, a string as is
 * (so a test can send malformed JSON), both labelled application/json unless `headers` say otherwise.
 */
export function jsonRequest(
  method: string,
  body: unknown,
  token: string | undefined,
  headers: Record<string, string>,
): RequestInit {
  return {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(token && { authorization: `Bearer ${token}` }),
      ...headers,
    },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
}

/** An answer as it came: status, headers and body bytes. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    public token?: string,
  ) {}

  async request<T = ApiSuccess<unknown> | ApiFailure>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply<T>> {
    const res = await fetch(this.baseUrl + path, jsonRequest(method, body, this.token, headers));
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T,
    };
  }

  /** Logs in with the seed's body (email, password, name), which creates the account the first time. */
  async login(email: string, password = 'password123', name = 'John Doe'): Promise<string> {
    const reply = await this.request<ApiSuccess<{ token: string }>>('POST', '/api/auth/login', {
      email,
      password,
      name,
    });
    if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    this.token = reply.body.data.token;
    return this.token;
  }

  async create(body: Record<string, unknown>): Promise<Generation> {
    const reply = await this.request<ApiSuccess<Generation>>('POST', '/api/generations/', body);
    if (reply.status !== 202) throw new Error(`create failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.data;
  }

  async get(id: string): Promise<Reply<ApiSuccess<Generation> | ApiFailure>> {
    return this.request('GET', `/api/generations/${id}`);
  }

  /** One page of the caller's generations, newest first. */
  async list(query = ''): Promise<GenerationPage> {
    const reply = await this.request<ApiSuccess<GenerationPage>>('GET', `/api/generations${query}`);
    if (reply.status !== 200) throw new Error(`list failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.data;
  }

  /** `GET /api/generations/:id/image`: status, headers and the raw bytes. */
  image(id: string): Promise<RawAnswer> {
    return this.raw(`/api/generations/${id}/image`);
  }

  /** A GET of `path` as this user, with `headers`: status, headers and the raw bytes, whatever they are. */
  async raw(path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      headers: { ...(this.token && { authorization: `Bearer ${this.token}` }), ...headers },
    });
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
  }

  /** The caller's webhook signing secret (`rotate` makes a new one first). */
  async webhookSecret(rotate = false): Promise<WebhookSecretView> {
    const reply = await this.request<ApiSuccess<WebhookSecretView>>(
      rotate ? 'POST' : 'GET',
      `/api/webhooks/secret${rotate ? '/rotate' : ''}`,
    );
    if (reply.status !== 200) throw new Error(`webhook secret: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.data;
  }

  /** The delivery log of a generation's webhooks. */
  async deliveries(id: string): Promise<WebhookDeliveries> {
    const reply = await this.request<ApiSuccess<WebhookDeliveries>>('GET', `/api/generations/${id}/webhook-deliveries`);
    if (reply.status !== 200) throw new Error(`deliveries: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.data;
  }

  /** Polls the delivery log until `done` holds, as a client watching its webhooks would. */
  async waitForDeliveries(
    id: string,
    done: (log: WebhookDeliveries) => boolean,
    timeoutMs = 30_000,
  ): Promise<WebhookDeliveries> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const log = await this.deliveries(id);
      if (done(log)) return log;
      if (Date.now() > deadline) throw new Error(`delivery log of ${id} never got there: ${JSON.stringify(log)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Polls the record, as a client of the service does, until it reaches one of `statuses`. */
  async waitFor(
    id: string,
    statuses: GenerationStatus[] = ['completed', 'failed', 'canceled'],
    timeoutMs = 30_000,
  ): Promise<Generation> {
    const deadline = Date.now() + timeoutMs;
    let last: Generation | undefined;
    while (Date.now() < deadline) {
      const reply = await this.get(id);
      if (reply.status !== 200 || !reply.body.success)
        throw new Error(`poll failed: ${reply.status} ${JSON.stringify(reply.body)}`);
      last = reply.body.data;
      if (statuses.includes(last.status)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`generation ${id} still ${last?.status} after ${timeoutMs} ms`);
  }
}

/** An answer about one generation: its record, or the error envelope. */
export type GenerationAnswer = Reply<ApiSuccess<Generation> | ApiFailure>;

export const cancel = (client: ApiClient, id: string): Promise<GenerationAnswer> =>
  client.request('POST', `/api/generations/${id}/cancel`);

export const retry = (client: ApiClient, id: string): Promise<GenerationAnswer> =>
  client.request('POST', `/api/generations/${id}/retry`);

/** The record of a successful answer (fails the test with the answer otherwise). */
export function dataOf(reply: GenerationAnswer): Generation {
  if (!reply.body.success) throw new Error(`expected a success, got ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.data;
}
