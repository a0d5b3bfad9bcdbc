import { once, EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { makeImage, type ImageMark } from './hf-emulator';
import { HeldAnswers } from './held-answers';

/**
 * Hugging Face Inference Providers (the router, the Hub's mapping endpoint, the providers behind the
 * router) and OpenAI Images, as real HTTP servers on 127.0.0.1, written from
 * shared/reference/hf-providers.md. Result images are served by a second server (the "CDN"), so a
 * client downloads them from another host, without its token.
 *
 * Several images per request are answered where the provider takes a count: fal-ai `num_images`
 * (`images: [{url}, …]`), OpenAI and together `n` (`data: [...]`); every other provider draws one per
 * request. Each image carries its mark (see `ImageMark`): `seed + i` for image i of a seeded
 * request, else i (none for the first), so tests tell the images of a set apart.
 */

export type EmulatedProvider =
  'fal-ai' | 'hf-inference' | 'nscale' | 'replicate' | 'together' | 'wavespeed' | 'zai-org' | 'openai';

export interface HubEntry {
  provider: string;
  providerId: string;
  status?: 'live' | 'staging' | 'error';
  /** Default `text-to-image`. */
  task?: string;
}

export interface RecordedProviderRequest {
  provider: EmulatedProvider;
  method: string;
  /** Path and query, e.g. `/fal-ai/fal-ai/flux/schnell?_subdomain=queue`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or null when the request had no (JSON) body. */
  body: unknown;
  /** True once the client went away before the answer was sent (it aborted the request). */
  aborted: boolean;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export type ProviderStep =
  | {
      kind: 'ok';
      /** Async providers: in-progress answers before success (default 1; replicate: 0, i.e. `Prefer: wait` succeeds at once). */
      polls?: number;
      /** Default png. */
      format?: ImageFormat;
      /** How long the submit answer takes. */
      delayMs?: number;
      /** Async providers: the job stays in progress until this settles. Sync providers: the answer waits for it. */
      until?: Promise<unknown>;
      /** Replicate only: `output` as `[url]` (default) or as a bare `url`. */
      replicateOutput?: 'array' | 'string';
    }
  /** Async providers: the job ends failed with `error`. Sync providers answer the provider's 500 with it. */
  | { kind: 'job-fails'; polls?: number; error: string }
  /** The submit answers this; a string body goes out as text/plain, anything else as JSON. */
  | { kind: 'error'; status: number; body: unknown; headers?: Record<string, string> }
  /** The submit's connection is destroyed without an answer. */
  | { kind: 'reset' }
  /** Success, but the image (inline or downloaded) is exactly `bytes` long: a PNG header, then zeros. */
  | { kind: 'huge-image'; bytes: number };

const hfError = (status: number, error: string, extra?: object, headers?: Record<string, string>): ProviderStep => ({
  kind: 'error',
  status,
  body: { error, ...extra },
  ...(headers && { headers }),
});

const openaiError = (
  status: number,
  error: { message: string; type: string; code: string | null },
  headers?: Record<string, string>,
): ProviderStep => ({
  kind: 'error',
  status,
  body: { error: { message: error.message, type: error.type, param: null, code: error.code } },
  headers: { 'x-request-id': 'req_emulated', ...headers },
});

/** Submit answers with the bodies seen in the real world (hf-providers.md §3, §6). */
export const providerAnswers = {
  notSupported: (provider: string): ProviderStep => hfError(400, `Model not supported by provider ${provider}`),
  badToken: (): ProviderStep => hfError(401, 'Invalid credentials in Authorization header'),
  noCredits: (): ProviderStep =>
    hfError(
      402,
      'You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to get 20x more monthly included credits.',
    ),
  forbidden: (): ProviderStep =>
    hfError(
      403,
      'This authentication method does not have sufficient permissions to call Inference Providers on behalf of user emulated-user',
    ),
  unprocessable: (): ProviderStep =>
    hfError(422, 'Input validation error: `inputs` must be non-empty', { error_type: 'validation' }),
  rateLimited: (retryAfterSeconds?: number): ProviderStep =>
    hfError(
      429,
      'Rate limit reached. You reached free usage limit (reset hourly).',
      undefined,
      retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) },
    ),
  /** No documented body (huggingface-api.md): an empty one. */
  serverError: (status = 500): ProviderStep => ({ kind: 'error', status, body: '' }),
  coldStart: (model: string, estimatedSeconds: number): ProviderStep =>
    hfError(503, `Model ${model} is currently loading`, { estimated_time: estimatedSeconds }),
  openaiQuota: (): ProviderStep =>
    openaiError(429, {
      message:
        'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    }),
  openaiRateLimited: (retryAfterMs?: number): ProviderStep =>
    openaiError(
      429,
      {
        message:
          'Rate limit reached for gpt-image-1 in organization org-emulated on images per minute (IPM): Limit 5, Used 5, Requested 1. Please try again in 12s.',
        type: 'requests',
        code: 'rate_limit_exceeded',
      },
      retryAfterMs === undefined ? undefined : { 'retry-after-ms': String(retryAfterMs) },
    ),
};

const PROVIDERS: readonly EmulatedProvider[] = [
  'fal-ai',
  'hf-inference',
  'nscale',
  'replicate',
  'together',
  'wavespeed',
  'zai-org',
  'openai',
];

const CONTENT_TYPES: Record<ImageFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

type Outcome = { kind: 'image'; format: ImageFormat; bytes?: number } | { kind: 'fail'; error: string };

/** A queued job of an async provider (fal-ai, replicate, wavespeed, zai-org). */
interface Job {
  id: string;
  provider: EmulatedProvider;
  outcome: Outcome;
  polls: number;
  pollsSeen: number;
  settled: boolean;
  canceled: boolean;
  width: number;
  height: number;
  /** What the submit asked for: how many images, from which seed. */
  ask: ImagesAsk;
  /** Where the CDN serves each result image, e.g. `/files/fal-ai/<id>.png`, then `/files/fal-ai/<id>-1.png`, … */
  imagePaths: string[];
  createdAt: string;
  /** Provider-specific facts the answers repeat (fal's app path, replicate's model and input, …). */
  meta: Record<string, unknown>;
}

type JobState = 'running' | 'succeeded' | 'failed' | 'canceled';

/** The state a poll sees, without counting it. */
function stateOf(job: Job): JobState {
  if (job.canceled) return 'canceled';
  if (job.pollsSeen < job.polls || !job.settled) return 'running';
  return job.outcome.kind === 'fail' ? 'failed' : 'succeeded';
}

/** The state a poll sees, counting it as one of the job's in-progress answers. */
function advance(job: Job): JobState {
  const state = stateOf(job);
  if (state === 'running') job.pollsSeen += 1;
  return state;
}

type SuccessStep = Exclude<ProviderStep, { kind: 'error' } | { kind: 'reset' }>;

function outcomeOf(step: SuccessStep, requestedFormat: ImageFormat | undefined): Outcome {
  if (step.kind === 'job-fails') return { kind: 'fail', error: step.error };
  if (step.kind === 'huge-image') return { kind: 'image', format: 'png', bytes: step.bytes };
  return { kind: 'image', format: step.format ?? requestedFormat ?? 'png' };
}

/** Ids shaped like each provider's, numbered per emulator so that fixtures can name them. */
function idFor(provider: EmulatedProvider, n: number): string {
  switch (provider) {
    case 'fal-ai':
      return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
    case 'replicate':
      return `emu${n.toString(36).padStart(23, '0')}`;
    case 'wavespeed':
      return n.toString(16).padStart(32, '0');
    case 'zai-org':
      return `emulated-task-${String(n).padStart(6, '0')}`;
    default:
      return `emulated-${provider}-${n}`;
  }
}

/** What a submit asks for: how many images (its count parameter, where the provider has one), and the seed. */
interface ImagesAsk {
  count: number;
  seed: number | undefined;
}

/** The count and seed in a request `body` to `provider`, wherever that provider takes them. */
function askOf(provider: EmulatedProvider, body: unknown): ImagesAsk {
  const fields = obj(body);
  const count =
    provider === 'fal-ai' ? fields.num_images : provider === 'together' || provider === 'openai' ? fields.n : 1;
  const seed = [fields.seed, obj(fields.parameters).seed, obj(fields.input).seed].find(Number.isInteger);
  return { count: positive(count) ?? 1, seed: seed as number | undefined };
}

/** The mark of image `index` of a job (see `ImageMark`). */
function markOf(ask: ImagesAsk, index: number): ImageMark {
  if (ask.seed !== undefined) return ask.seed + index;
  return index === 0 ? undefined : index;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** `url.pathname`. */
  path: string;
  method: string;
  body: unknown;
  ask: ImagesAsk;
}

interface Kit {
  /** The step for the next job of `provider`: one scripted for its seed first, then the provider's script. */
  nextStep(provider: EmulatedProvider, seed: number | undefined): ProviderStep;
  prelude(step: ProviderStep, ctx: Ctx, holdUntil: boolean): Promise<SuccessStep | undefined>;
  nextId(provider: EmulatedProvider): string;
  createJob(
    provider: EmulatedProvider,
    step: SuccessStep,
    size: [number, number],
    requestedFormat: ImageFormat | undefined,
    defaultPolls: number,
    ask: ImagesAsk,
    meta?: Record<string, unknown>,
  ): Job;
  job(provider: EmulatedProvider, id: string): Job | undefined;
  cdnUrlOf(job: Job, index?: number): string;
  recordCancel(provider: EmulatedProvider, id: string): void;
}

/** Handles a request to its provider; false when no route matched (the caller answers 404). */
type Handler = (kit: Kit, ctx: Ctx) => Promise<boolean | void>;

interface CdnFile {
  contentType: string;
  make: () => Buffer;
}

/** A PNG signature and IHDR for `width`×`height`, then zeros up to exactly `bytes` bytes. */
export function makeHugePng(bytes: number, width: number, height: number): Buffer {
  const out = Buffer.alloc(Math.max(bytes, 33));
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(out, 0);
  out.writeUInt32BE(13, 8);
  out.write('IHDR', 12, 'latin1');
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt8(8, 24); // bit depth
  out.writeUInt8(6, 25); // RGBA
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A valid lossless WebP of one colour at any size: every prefix code of the VP8L bitstream has a
 * single symbol, so the pixels take no bits at all and the file stays a few dozen bytes.
 */
export function makeWebp(width: number, height: number, mark?: ImageMark): Buffer {
  const bits: number[] = [];
  const write = (value: number, n: number) => {
    for (let i = 0; i < n; i++) bits.push((value >> i) & 1);
  };
  write(width - 1, 14);
  write(height - 1, 14);
  write(0, 1); // alpha_is_used
  write(0, 3); // version
  write(0, 1); // no transform
  write(0, 1); // no colour cache
  write(0, 1); // no meta prefix codes
  // green, red, blue, alpha, distance: one symbol each
  for (const symbol of [128, 64, mark === undefined ? 192 : mark % 256, 255, 0]) {
    write(1, 1); // simple code
    write(0, 1); // one symbol
    if (symbol < 2) {
      write(0, 1);
      write(symbol, 1);
    } else {
      write(1, 1);
      write(symbol, 8);
    }
  }
  const data = Buffer.alloc(1 + Math.ceil(bits.length / 8));
  data[0] = 0x2f;
  bits.forEach((bit, i) => {
    data[1 + (i >> 3)]! |= bit << (i & 7);
  });
  const pad = data.length % 2;
  const out = Buffer.alloc(20 + data.length + pad);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(12 + data.length + pad, 4);
  out.write('WEBP', 8, 'latin1');
  out.write('VP8L', 12, 'latin1');
  out.writeUInt32LE(data.length, 16);
  data.copy(out, 20);
  return out;
}

function imageBytes(
  outcome: Extract<Outcome, { kind: 'image' }>,
  width: number,
  height: number,
  mark: ImageMark,
): Buffer {
  if (outcome.bytes !== undefined) return makeHugePng(outcome.bytes, width, height);
  return outcome.format === 'webp' ? makeWebp(width, height, mark) : makeImage(outcome.format, width, height, mark);
}

function contentTypeOf(outcome: Extract<Outcome, { kind: 'image' }>): string {
  return outcome.bytes !== undefined ? CONTENT_TYPES.png : CONTENT_TYPES[outcome.format];
}

function extensionOf(outcome: Outcome): string {
  return outcome.kind === 'image' && outcome.bytes === undefined ? outcome.format : 'png';
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
    .end(text);
}

function sendBytes(res: ServerResponse, status: number, contentType: string, bytes: Buffer): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.length }).end(bytes);
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return null;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `"768x512"` or `"768*512"` → [768, 512]. */
function parseSize(size: unknown, separator: 'x' | '*'): [number, number] | undefined {
  if (typeof size !== 'string') return undefined;
  const [w, h] = size.split(separator).map(Number);
  return w && h ? [w, h] : undefined;
}

function positive(value: unknown): number | undefined {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** fal's `image_size` enum (fal.ai/models/fal-ai/flux-1/schnell). */
const FAL_SIZES: Record<string, [number, number]> = {
  square_hd: [1024, 1024],
  square: [512, 512],
  portrait_4_3: [768, 1024],
  portrait_16_9: [576, 1024],
  landscape_4_3: [1024, 768],
  landscape_16_9: [1024, 576],
};

export class ProviderEmulator {
  readonly hubRequests: { model: string; authorization: string | undefined }[] = [];
  readonly requests: RecordedProviderRequest[] = [];
  readonly downloads: { path: string; headers: IncomingHttpHeaders }[] = [];
  readonly cancels: { provider: EmulatedProvider; id: string }[] = [];

  private readonly mappings = new Map<string, { entries: HubEntry[]; shape: 'array' | 'object' }>();
  private hubIsDown = false;
  private readonly scripts = new Map<EmulatedProvider, ProviderStep[]>();
  private readonly seedScripts = new Map<string, ProviderStep[]>();
  private readonly jobs = new Map<string, Job>();
  private readonly counters = new Map<EmulatedProvider, number>();
  private readonly cdnFiles = new Map<string, CdnFile>();
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();
  private readonly held = new HeldAnswers();
  /** Answers the emulator itself cut off (`reset` steps): those requests were not aborted by their client. */
  private readonly resets = new WeakSet<ServerResponse>();
  /** What the provider handlers below the class may use. */
  private readonly kit: Kit;

  private constructor(
    private readonly server: Server,
    private readonly cdn: Server,
  ) {
    for (const s of [server, cdn]) {
      s.on('connection', (socket) => {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
    }
    this.events.setMaxListeners(0);
    this.kit = {
      nextStep: (provider, seed) => this.nextStep(provider, seed),
      prelude: (step, ctx, holdUntil) => this.prelude(step, ctx, holdUntil),
      nextId: (provider) => this.nextId(provider),
      createJob: (...args) => this.createJob(...args),
      job: (provider, id) => this.job(provider, id),
      cdnUrlOf: (job, index) => this.cdnUrlOf(job, index),
      recordCancel: (provider, id) => this.recordCancel(provider, id),
    };
  }

  static async start(): Promise<ProviderEmulator> {
    const emulator = new ProviderEmulator(createServer(), createServer());
    emulator.server.on('request', (req, res) => void emulator.handle(req, res));
    emulator.cdn.on('request', (req, res) => void emulator.handleCdn(req, res));
    emulator.server.listen(0, '127.0.0.1');
    emulator.cdn.listen(0, '127.0.0.1');
    await Promise.all([once(emulator.server, 'listening'), once(emulator.cdn, 'listening')]);
    return emulator;
  }

  /** HF_ROUTER_URL: provider routes are `/{provider}/…`. */
  get routerUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** HF_HUB_URL: serves `GET /api/models/{owner}/{name}?expand[]=inferenceProviderMapping`. */
  get hubUrl(): string {
    return `${this.routerUrl}/hub`;
  }

  /** OPENAI_BASE_URL: serves `POST /images/generations`. */
  get openaiUrl(): string {
    return `${this.routerUrl}/openai/v1`;
  }

  /** The second server, where result image URLs point. */
  get cdnUrl(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  /** What the Hub answers for `model`: an array of entries (today's shape) or the legacy object keyed by provider. */
  mapModel(model: string, entries: HubEntry[], shape: 'array' | 'object' = 'array'): void {
    this.mappings.set(model, { entries, shape });
  }

  /** While down, the Hub answers 503. */
  hubDown(down: boolean): void {
    this.hubIsDown = down;
  }

  /** Steps for `provider`, used in order, one per submitted job; once they run out: `{ kind: 'ok' }`. */
  script(provider: EmulatedProvider, ...steps: ProviderStep[]): void {
    this.scripts.set(provider, [...(this.scripts.get(provider) ?? []), ...steps]);
  }

  /**
   * Steps for the submits to `provider` that carry `seed` (in the body, its `parameters` or its
   * `input`), used before its other script: so a test fails, or holds, one request of several sent
   * at once, whatever order they arrive in.
   */
  scriptSeed(provider: EmulatedProvider, seed: number, ...steps: ProviderStep[]): void {
    const key = `${provider}:${seed}`;
    this.seedScripts.set(key, [...(this.seedScripts.get(key) ?? []), ...steps]);
  }

  requestsFor(provider: EmulatedProvider): RecordedProviderRequest[] {
    return this.requests.filter((r) => r.provider === provider);
  }

  /** Resolves when the `n`th request (1-based, submits and polls alike) for `provider` has arrived. */
  async waitForRequests(provider: EmulatedProvider, n: number): Promise<void> {
    while (this.requestsFor(provider).length < n) await once(this.events, 'request');
  }

  /** Resolves once `holds()` is true, checking it again at every request and every abort the emulator sees. */
  async until(holds: () => boolean): Promise<void> {
    while (!holds()) await Promise.race([once(this.events, 'request'), once(this.events, 'aborted')]);
  }

  /** Resolves when `n` requests to `provider` have been aborted by their client (see `aborted`). */
  async waitForAborts(provider: EmulatedProvider, n: number): Promise<void> {
    while (this.requestsFor(provider).filter((r) => r.aborted).length < n) await once(this.events, 'aborted');
  }

  async close(): Promise<void> {
    this.held.releaseAll();
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.server, this.cdn].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return; // the client went away mid-body
    }
    const path = req.url ?? '/';
    const url = new URL(path, 'http://emulator');
    if (url.pathname.startsWith('/hub/')) {
      this.handleHub(req, url, res);
      return;
    }
    const first = url.pathname.split('/')[1] ?? '';
    const provider = PROVIDERS.find((p) => p === first);
    if (!provider) {
      sendJson(res, 404, { error: 'Not Found' });
      return;
    }
    const body = parseJson(Buffer.concat(chunks));
    const recorded: RecordedProviderRequest = {
      provider,
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      body,
      aborted: false,
    };
    this.requests.push(recorded);
    res.once('close', () => {
      if (res.writableEnded || this.resets.has(res)) return;
      recorded.aborted = true;
      this.events.emit('aborted');
    });
    this.events.emit('request');
    if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
      if (provider === 'openai') {
        sendJson(res, 401, {
          error: {
            message:
              "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            type: 'invalid_request_error',
            param: null,
            code: null,
          },
        });
      } else {
        sendJson(res, 401, { error: 'Invalid credentials in Authorization header' });
      }
      return;
    }
    await this.route(provider, req, url, body, res);
  }

  private handleHub(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const match = /^\/hub\/api\/models\/(.+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !match?.[1]) {
      sendJson(res, 404, { error: 'Not Found' });
      return;
    }
    const model = decodeURIComponent(match[1]);
    this.hubRequests.push({ model, authorization: req.headers.authorization });
    if (this.hubIsDown) {
      sendJson(res, 503, { error: 'Service Unavailable' });
      return;
    }
    const mapping = this.mappings.get(model);
    if (!mapping) {
      sendJson(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
      return;
    }
    // Asked for the mapping, the Hub answers only `_id`, `id` and the expanded fields.
    const expand = url.searchParams.getAll('expand[]');
    const answer: Record<string, unknown> = { _id: `emulated-${model}`, id: model };
    if (expand.includes('inferenceProviderMapping')) {
      answer.inferenceProviderMapping =
        mapping.shape === 'array'
          ? mapping.entries.map((e) => ({
              provider: e.provider,
              hfModelId: model,
              providerId: e.providerId,
              status: e.status ?? 'live',
              task: e.task ?? 'text-to-image',
            }))
          : Object.fromEntries(
              mapping.entries.map((e) => [
                e.provider,
                { status: e.status ?? 'live', providerId: e.providerId, task: e.task ?? 'text-to-image' },
              ]),
            );
    }
    sendJson(res, 200, answer);
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    this.downloads.push({ path, headers: req.headers });
    const file = req.method === 'GET' ? this.cdnFiles.get(new URL(path, 'http://cdn').pathname) : undefined;
    if (!file) {
      sendJson(res, 404, { error: 'Not Found' });
      return;
    }
    sendBytes(res, 200, file.contentType, file.make());
  }

  private async route(
    provider: EmulatedProvider,
    req: IncomingMessage,
    url: URL,
    body: unknown,
    res: ServerResponse,
  ): Promise<void> {
    const handled = await ROUTES[provider](this.kit, {
      req,
      res,
      url,
      path: url.pathname,
      method: req.method ?? 'GET',
      body,
      ask: askOf(provider, body),
    });
    if (handled === false) sendJson(res, 404, { error: 'Not Found' });
  }

  // --- shared by the provider handlers below -------------------------------------------------

  private nextStep(provider: EmulatedProvider, seed: number | undefined): ProviderStep {
    const bySeed = seed === undefined ? undefined : this.seedScripts.get(`${provider}:${seed}`)?.shift();
    return bySeed ?? this.scripts.get(provider)?.shift() ?? { kind: 'ok' };
  }

  /**
   * Answers `error` and `reset` steps and waits out `delayMs` (and `until`, for a held answer).
   * Returns the step when the handler still has to answer, undefined when nothing more must be sent.
   */
  private async prelude(step: ProviderStep, ctx: Ctx, holdUntil: boolean): Promise<SuccessStep | undefined> {
    if (step.kind === 'error') {
      if (typeof step.body === 'string') {
        ctx.res
          .writeHead(step.status, {
            'content-type': 'text/plain; charset=utf-8',
            'content-length': Buffer.byteLength(step.body),
            ...step.headers,
          })
          .end(step.body);
      } else {
        sendJson(ctx.res, step.status, step.body, step.headers);
      }
      return undefined;
    }
    if (step.kind === 'reset') {
      this.resets.add(ctx.res);
      ctx.req.socket.destroy();
      return undefined;
    }
    const delayMs = step.kind === 'ok' ? step.delayMs : undefined;
    const until = step.kind === 'ok' && holdUntil ? step.until : undefined;
    if (delayMs) await this.held.delay(delayMs, ctx.res);
    if (until) await this.held.hold((end) => void until.then(end, end), ctx.res);
    // The client gave up or the emulator closed: nobody to answer.
    if ((delayMs || until) && (ctx.res.destroyed || !ctx.res.socket || ctx.res.socket.destroyed)) return undefined;
    return step;
  }

  private nextId(provider: EmulatedProvider): string {
    const n = (this.counters.get(provider) ?? 0) + 1;
    this.counters.set(provider, n);
    return idFor(provider, n);
  }

  /** A job whose result images the CDN serves at `/files/{provider}/{id}.{ext}`, then `{id}-{i}.{ext}`. */
  private createJob(
    provider: EmulatedProvider,
    step: SuccessStep,
    size: [number, number],
    requestedFormat: ImageFormat | undefined,
    defaultPolls: number,
    ask: ImagesAsk,
    meta: Record<string, unknown> = {},
  ): Job {
    const id = this.nextId(provider);
    const outcome = outcomeOf(step, requestedFormat);
    const job: Job = {
      id,
      provider,
      outcome,
      polls: (step.kind === 'huge-image' ? undefined : step.polls) ?? defaultPolls,
      pollsSeen: 0,
      settled: true,
      canceled: false,
      width: size[0],
      height: size[1],
      ask,
      imagePaths: Array.from(
        { length: ask.count },
        (_, i) => `/files/${provider}/${id}${i === 0 ? '' : `-${i}`}.${extensionOf(outcome)}`,
      ),
      createdAt: new Date().toISOString(),
      meta,
    };
    if (step.kind === 'ok' && step.until) {
      job.settled = false;
      const settle = () => (job.settled = true);
      step.until.then(settle, settle);
    }
    this.jobs.set(`${provider}:${id}`, job);
    if (outcome.kind === 'image') {
      job.imagePaths.forEach((path, index) => {
        let bytes: Buffer | undefined;
        this.cdnFiles.set(path, {
          contentType: contentTypeOf(outcome),
          make: () => (bytes ??= imageBytes(outcome, job.width, job.height, markOf(ask, index))),
        });
      });
    }
    return job;
  }

  private job(provider: EmulatedProvider, id: string): Job | undefined {
    return this.jobs.get(`${provider}:${id}`);
  }

  private cdnUrlOf(job: Job, index = 0): string {
    return `${this.cdnUrl}${job.imagePaths[index]}`;
  }

  private recordCancel(provider: EmulatedProvider, id: string): void {
    this.cancels.push({ provider, id });
  }
}

// --- the providers ---------------------------------------------------------------------------

const obj = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});

function formatOf(value: unknown): ImageFormat | undefined {
  if (value === 'jpg') return 'jpeg';
  return value === 'png' || value === 'jpeg' || value === 'webp' ? value : undefined;
}

function widthHeight(body: Record<string, unknown>, fallback: [number, number]): [number, number] {
  return [positive(body.width) ?? fallback[0], positive(body.height) ?? fallback[1]];
}

function bytesOf(job: Job, index = 0): Buffer {
  if (job.outcome.kind !== 'image') return Buffer.alloc(0);
  return imageBytes(job.outcome, job.width, job.height, markOf(job.ask, index));
}

/** Each of the job's images (its count), as `answer` gives one. */
const eachImage = <T>(job: Job, answer: (index: number) => T): T[] =>
  Array.from({ length: job.ask.count }, (_, index) => answer(index));

/** A synchronous provider's job: the answer waits out `delayMs` and `until`; undefined when already answered. */
async function syncJob(
  kit: Kit,
  ctx: Ctx,
  provider: EmulatedProvider,
  size: [number, number],
  requestedFormat?: ImageFormat,
): Promise<Job | undefined> {
  const step = await kit.prelude(kit.nextStep(provider, ctx.ask.seed), ctx, true);
  return step && kit.createJob(provider, step, size, requestedFormat, 0, ctx.ask);
}

const hfInference: Handler = async (kit, ctx) => {
  if (ctx.method !== 'POST' || !/^\/hf-inference\/models\/[^/]+(\/[^/]+)?$/.test(ctx.path)) return false;
  const job = await syncJob(kit, ctx, 'hf-inference', widthHeight(obj(obj(ctx.body).parameters), [1024, 1024]));
  if (!job) return;
  if (job.outcome.kind === 'fail') return sendJson(ctx.res, 500, { error: job.outcome.error });
  sendBytes(ctx.res, 200, contentTypeOf(job.outcome), bytesOf(job));
};

const nscale: Handler = async (kit, ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/nscale/v1/images/generations') return false;
  const body = obj(ctx.body);
  const job = await syncJob(kit, ctx, 'nscale', parseSize(body.size, 'x') ?? widthHeight(body, [1024, 1024]));
  if (!job) return;
  if (job.outcome.kind === 'fail') return sendJson(ctx.res, 500, { error: job.outcome.error });
  sendJson(ctx.res, 200, { data: [{ b64_json: bytesOf(job).toString('base64') }] });
};

const together: Handler = async (kit, ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/together/v1/images/generations') return false;
  const body = obj(ctx.body);
  const job = await syncJob(kit, ctx, 'together', widthHeight(body, [1024, 1024]));
  if (!job) return;
  if (job.outcome.kind === 'fail') return sendJson(ctx.res, 500, { error: { message: job.outcome.error } });
  const data = eachImage(job, (index) => ({
    index,
    ...(body.response_format === 'url'
      ? { url: kit.cdnUrlOf(job, index) }
      : { b64_json: bytesOf(job, index).toString('base64') }),
  }));
  sendJson(ctx.res, 200, { id: job.id, model: body.model, object: 'list', data });
};

/** Output tokens of gpt-image-1 per quality, square and non-square (OpenAI pricing page). */
const GPT_IMAGE_TOKENS: Record<string, [number, number]> = {
  low: [272, 408],
  medium: [1056, 1584],
  high: [4160, 6240],
};

const openai: Handler = async (kit, ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/openai/v1/images/generations') return false;
  const body = obj(ctx.body);
  const model = typeof body.model === 'string' ? body.model : 'dall-e-2';
  const gpt = model.startsWith('gpt-image');
  const size = parseSize(body.size, 'x') ?? [1024, 1024];
  const job = await syncJob(kit, ctx, 'openai', size, gpt ? formatOf(body.output_format) : 'png');
  if (!job) return;
  const headers = { 'x-request-id': `req_${job.id}` };
  if (job.outcome.kind === 'fail') {
    const error = { message: job.outcome.error, type: 'server_error', param: null, code: null };
    return sendJson(ctx.res, 500, { error }, headers);
  }
  const created = Math.floor(Date.now() / 1000);
  if (gpt) {
    const quality = typeof body.quality === 'string' && body.quality in GPT_IMAGE_TOKENS ? body.quality : 'medium';
    const textTokens = Math.ceil(String(body.prompt ?? '').length / 4);
    const outputTokens = GPT_IMAGE_TOKENS[quality]![job.width === job.height ? 0 : 1];
    return sendJson(
      ctx.res,
      200,
      {
        created,
        background: body.background === 'transparent' ? 'transparent' : 'opaque',
        data: eachImage(job, (index) => ({ b64_json: bytesOf(job, index).toString('base64') })),
        output_format: job.outcome.bytes === undefined ? job.outcome.format : 'png',
        quality,
        size: `${job.width}x${job.height}`,
        usage: {
          input_tokens: textTokens,
          input_tokens_details: { image_tokens: 0, text_tokens: textTokens },
          output_tokens: outputTokens,
          total_tokens: textTokens + outputTokens,
        },
      },
      headers,
    );
  }
  const revised = model === 'dall-e-3' ? { revised_prompt: body.prompt } : {};
  const data = eachImage(job, (index) => ({
    ...revised,
    ...(body.response_format === 'b64_json'
      ? { b64_json: bytesOf(job, index).toString('base64') }
      : { url: kit.cdnUrlOf(job, index) }),
  }));
  sendJson(ctx.res, 200, { created, data }, headers);
};

const FAL_QUEUE = 'https://queue.fal.run';

/** Status, result and cancel URLs name only owner/app, not the endpoint path (fal docs, queue API). */
function falUrls(job: Job): Record<string, string> {
  const base = `${FAL_QUEUE}/${String(job.meta.app)}/requests/${job.id}`;
  return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
}

function falResult(kit: Kit, job: Job): unknown {
  const contentType = job.outcome.kind === 'image' ? contentTypeOf(job.outcome) : 'image/png';
  return {
    images: eachImage(job, (index) => ({
      url: kit.cdnUrlOf(job, index),
      width: job.width,
      height: job.height,
      content_type: contentType,
    })),
    timings: { inference: 0.42 },
    seed: job.meta.seed ?? 1234567,
    has_nsfw_concepts: eachImage(job, () => false),
    prompt: job.meta.prompt,
  };
}

/** A failed request's result: fal's "request error" shape, `detail` + `error_type` and the same in a header. */
function falFailure(ctx: Ctx, job: Job): void {
  const [status, detail, errorType] =
    job.outcome.kind === 'fail' && !job.canceled
      ? [500, job.outcome.error, 'runner_server_error']
      : [499, 'Request was cancelled', 'client_cancelled'];
  sendJson(ctx.res, status, { detail, error_type: errorType }, { 'x-fal-error-type': errorType });
}

function falSize(body: Record<string, unknown>): [number, number] {
  const imageSize = body.image_size;
  if (typeof imageSize === 'string' && FAL_SIZES[imageSize]) return FAL_SIZES[imageSize];
  if (isRecord(imageSize)) return widthHeight(imageSize, [1024, 768]);
  return widthHeight(body, [1024, 768]); // fal's flux default is landscape_4_3
}

const falAi: Handler = async (kit, ctx) => {
  const { res } = ctx;
  const queue = ctx.url.searchParams.get('_subdomain') === 'queue';
  const follow = /^\/fal-ai\/(.+)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(ctx.path);
  if (follow) {
    const id = follow[2]!;
    const action = follow[3];
    if (!queue) return false;
    const job = kit.job('fal-ai', id);
    if (action === '/cancel') {
      if (ctx.method !== 'PUT') return false;
      kit.recordCancel('fal-ai', id);
      if (!job) return sendJson(res, 404, { status: 'NOT_FOUND' });
      if (stateOf(job) !== 'running') return sendJson(res, 400, { status: 'ALREADY_COMPLETED' });
      job.canceled = true;
      return sendJson(res, 202, { status: 'CANCELLATION_REQUESTED' });
    }
    if (ctx.method !== 'GET') return false;
    if (!job) return sendJson(res, 404, { detail: 'Request not found' });
    if (action === '/status') {
      const state = advance(job);
      const head = { request_id: job.id, ...falUrls(job), logs: null };
      if (state === 'running') return sendJson(res, 202, { status: 'IN_PROGRESS', ...head });
      if (state === 'succeeded') {
        return sendJson(res, 200, { status: 'COMPLETED', ...head, metrics: { inference_time: 0.42 } });
      }
      const failed = job.outcome.kind === 'fail' && !job.canceled;
      return sendJson(res, 200, {
        status: 'COMPLETED',
        ...head,
        metrics: {},
        error: failed ? (job.outcome as { error: string }).error : 'Request was cancelled',
        error_type: failed ? 'runner_server_error' : 'client_cancelled',
      });
    }
    const state = stateOf(job);
    if (state === 'running') return sendJson(res, 400, { detail: 'Request is still in progress' });
    if (state === 'succeeded') return sendJson(res, 200, falResult(kit, job));
    return falFailure(ctx, job);
  }
  const providerId = ctx.path.slice('/fal-ai/'.length);
  if (ctx.method !== 'POST' || !providerId) return false;
  const body = obj(ctx.body);
  // The queue answers at once; fal's synchronous endpoint (no `_subdomain=queue`) holds the answer.
  const step = await kit.prelude(kit.nextStep('fal-ai', ctx.ask.seed), ctx, !queue);
  if (!step) return;
  const job = kit.createJob('fal-ai', step, falSize(body), formatOf(body.output_format), queue ? 1 : 0, ctx.ask, {
    app: providerId.split('/').slice(0, 2).join('/'),
    seed: body.seed,
    prompt: body.prompt,
  });
  if (!queue) return job.outcome.kind === 'fail' ? falFailure(ctx, job) : sendJson(res, 200, falResult(kit, job));
  sendJson(res, 200, { status: 'IN_QUEUE', request_id: job.id, ...falUrls(job), queue_position: 0 });
};

const REPLICATE_API = 'https://api.replicate.com/v1';

function replicatePrediction(kit: Kit, job: Job, state: JobState, justCreated: boolean): unknown {
  const status = {
    running: justCreated ? 'starting' : 'processing',
    succeeded: 'succeeded',
    failed: 'failed',
    canceled: 'canceled',
  }[state];
  const url = kit.cdnUrlOf(job);
  const now = new Date().toISOString();
  const terminal = state !== 'running';
  return {
    id: job.id,
    model: job.meta.model,
    version: job.meta.version ?? 'hidden',
    input: job.meta.input,
    logs: '',
    output: state === 'succeeded' ? (job.meta.output === 'string' ? url : [url]) : null,
    data_removed: false,
    error: state === 'failed' && job.outcome.kind === 'fail' ? job.outcome.error : null,
    status,
    created_at: job.createdAt,
    ...(status !== 'starting' && { started_at: now }),
    ...(terminal && { completed_at: now }),
    urls: {
      cancel: `${REPLICATE_API}/predictions/${job.id}/cancel`,
      get: `${REPLICATE_API}/predictions/${job.id}`,
      web: `https://replicate.com/p/${job.id}`,
    },
    ...(state === 'succeeded' && { metrics: { predict_time: 0.42 } }),
  };
}

/** Replicate FLUX takes `aspect_ratio` (default 1:1) at about one megapixel; width/height when given. */
function replicateSize(input: Record<string, unknown>): [number, number] {
  const width = positive(input.width);
  const height = positive(input.height);
  if (width && height) return [width, height];
  const [a, b] = String(input.aspect_ratio ?? '1:1')
    .split(':')
    .map(Number);
  if (!a || !b) return [1024, 1024];
  const round = (n: number) => Math.max(16, Math.round(n / 16) * 16);
  return [round(Math.sqrt((1024 * 1024 * a) / b)), round(Math.sqrt((1024 * 1024 * b) / a))];
}

const replicate: Handler = async (kit, ctx) => {
  const { res } = ctx;
  const follow = /^\/replicate\/v1\/predictions\/([^/]+)(\/cancel)?$/.exec(ctx.path);
  if (follow) {
    const id = follow[1]!;
    const cancel = follow[2] !== undefined;
    if (ctx.method !== (cancel ? 'POST' : 'GET')) return false;
    if (cancel) kit.recordCancel('replicate', id);
    const job = kit.job('replicate', id);
    if (!job) return sendJson(res, 404, { detail: 'Not found.' });
    if (cancel && stateOf(job) === 'running') job.canceled = true;
    return sendJson(res, 200, replicatePrediction(kit, job, cancel ? stateOf(job) : advance(job), false));
  }
  const body = obj(ctx.body);
  const byModel = /^\/replicate\/v1\/models\/([^/]+\/[^/]+)\/predictions$/.exec(ctx.path);
  const version = typeof body.version === 'string' ? body.version : undefined;
  const model = byModel?.[1] ?? (ctx.path === '/replicate/v1/predictions' ? version?.split(':')[0] : undefined);
  if (ctx.method !== 'POST' || !model) return false;
  const input = obj(body.input);
  const step = await kit.prelude(kit.nextStep('replicate', ctx.ask.seed), ctx, false);
  if (!step) return;
  const job = kit.createJob('replicate', step, replicateSize(input), formatOf(input.output_format), 0, ctx.ask, {
    model,
    version: version?.includes(':') ? version.split(':')[1] : version,
    input,
    output: step.kind === 'ok' ? step.replicateOutput : undefined,
  });
  // `Prefer: wait` holds the answer until the prediction ends (up to 60 s): here, until it is not running.
  const wait = /\bwait\b/.test(String(ctx.req.headers.prefer ?? ''));
  sendJson(res, 201, replicatePrediction(kit, job, wait ? stateOf(job) : 'running', true));
};

const WAVESPEED_API = 'https://api.wavespeed.ai/api/v3';

function wavespeedTask(kit: Kit, job: Job, state: JobState | 'created'): unknown {
  const done = state === 'succeeded';
  const failed = state === 'failed' || state === 'canceled';
  return {
    id: job.id,
    model: job.meta.model,
    outputs: done ? [kit.cdnUrlOf(job)] : [],
    urls: { get: `${WAVESPEED_API}/predictions/${job.id}/result` },
    has_nsfw_contents: done ? [false] : [],
    status: done ? 'completed' : failed ? 'failed' : state === 'created' ? 'created' : 'processing',
    created_at: job.createdAt,
    error: failed && job.outcome.kind === 'fail' ? job.outcome.error : '',
    executionTime: done ? 420 : 0,
    timings: { inference: done ? 420 : 0 },
  };
}

const wavespeed: Handler = async (kit, ctx) => {
  const poll = /^\/wavespeed\/api\/v3\/predictions\/([^/]+)\/result$/.exec(ctx.path);
  if (poll) {
    if (ctx.method !== 'GET') return false;
    const job = kit.job('wavespeed', poll[1]!);
    if (!job) return sendJson(ctx.res, 404, { code: 404, message: 'prediction not found', data: null });
    return sendJson(ctx.res, 200, { code: 200, message: 'success', data: wavespeedTask(kit, job, advance(job)) });
  }
  const providerId = /^\/wavespeed\/api\/v3\/(.+)$/.exec(ctx.path)?.[1];
  if (ctx.method !== 'POST' || !providerId) return false;
  const body = obj(ctx.body);
  const step = await kit.prelude(kit.nextStep('wavespeed', ctx.ask.seed), ctx, false);
  if (!step) return;
  const size = parseSize(body.size, '*') ?? widthHeight(body, [1024, 1024]);
  const job = kit.createJob('wavespeed', step, size, formatOf(body.output_format), 1, ctx.ask, {
    model: providerId,
  });
  sendJson(ctx.res, 200, { code: 200, message: 'success', data: wavespeedTask(kit, job, 'created') });
};

const zaiOrg: Handler = async (kit, ctx) => {
  const poll = /^\/zai-org\/api\/paas\/v4\/async-result\/([^/]+)$/.exec(ctx.path);
  if (poll) {
    if (ctx.method !== 'GET') return false;
    const job = kit.job('zai-org', poll[1]!);
    if (!job) return sendJson(ctx.res, 404, { error: { code: '404', message: 'Task not found' } });
    const state = advance(job);
    const head = { model: job.meta.model, id: job.id, request_id: job.meta.requestId };
    const headers = { 'x-log-id': `log-${job.id}` };
    if (state === 'running') return sendJson(ctx.res, 200, { ...head, task_status: 'PROCESSING' }, headers);
    if (state === 'succeeded') {
      const answer = { ...head, task_status: 'SUCCESS', image_result: [{ url: kit.cdnUrlOf(job) }] };
      return sendJson(ctx.res, 200, answer, headers);
    }
    const message = job.outcome.kind === 'fail' ? job.outcome.error : 'Task canceled';
    return sendJson(ctx.res, 200, { ...head, task_status: 'FAIL', error: { code: '500', message } }, headers);
  }
  if (ctx.method !== 'POST' || ctx.path !== '/zai-org/api/paas/v4/async/images/generations') return false;
  const body = obj(ctx.body);
  const step = await kit.prelude(kit.nextStep('zai-org', ctx.ask.seed), ctx, false);
  if (!step) return;
  const size = parseSize(body.size, 'x') ?? [1024, 1024];
  const job = kit.createJob('zai-org', step, size, undefined, 1, ctx.ask, { model: body.model });
  job.meta.requestId = typeof body.request_id === 'string' ? body.request_id : job.id;
  const answer = { model: body.model, id: job.id, request_id: job.meta.requestId, task_status: 'PROCESSING' };
  sendJson(ctx.res, 200, answer, { 'x-log-id': `log-${job.id}` });
};

const ROUTES: Record<EmulatedProvider, Handler> = {
  'fal-ai': falAi,
  'hf-inference': hfInference,
  nscale,
  replicate,
  together,
  wavespeed,
  'zai-org': zaiOrg,
  openai,
};
