import { once, EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { HeldAnswers } from './held-answers';

/** One scripted answer of the emulator. */
export type Step =
  /** `until`: the answer waits for it, so a test holds a worker slot for exactly as long as it needs. */
  | { kind: 'image'; format: 'png' | 'jpeg'; delayMs?: number; until?: Promise<unknown> }
  | {
      kind: 'answer';
      status: number;
      body: string | Buffer;
      contentType: string;
      headers?: Record<string, string>;
      delayMs?: number;
      until?: Promise<unknown>;
    }
  /** Close the connection without answering. */
  | { kind: 'reset' }
  /**
   * Start a 200 PNG answer, then destroy the socket: in the middle of the status line and headers
   * (`headers`), or after the headers and half the body (`body`, with a Content-Length of the whole).
   */
  | { kind: 'cut'; at: 'headers' | 'body' }
  /** Send 200 headers and a first chunk of body, then never finish. */
  | { kind: 'stall' };

const json = (status: number, body: unknown, headers?: Record<string, string>): Extract<Step, { kind: 'answer' }> => ({
  kind: 'answer',
  status,
  body: JSON.stringify(body),
  contentType: 'application/json',
  ...(headers && { headers }),
});

/** Answers as the Hugging Face router does (see shared/reference/huggingface-api.md). */
export const hf = {
  png: (delayMs?: number): Step => ({ kind: 'image', format: 'png', ...(delayMs !== undefined && { delayMs }) }),
  jpeg: (delayMs?: number): Step => ({ kind: 'image', format: 'jpeg', ...(delayMs !== undefined && { delayMs }) }),
  /** A PNG, answered once `until` settles (or the client goes away, or the emulator closes). */
  pngWhen: (until: Promise<unknown>): Step => ({ kind: 'image', format: 'png', until }),
  /** `delayMs`: how long the answer takes to come (the router's own answer is not instant either). */
  coldStart: (model: string, estimatedSeconds: number, delayMs?: number): Step => ({
    ...json(503, { error: `Model ${model} is currently loading`, estimated_time: estimatedSeconds }),
    ...(delayMs !== undefined && { delayMs }),
  }),
  rateLimited: (retryAfterSeconds?: number): Step =>
    json(
      429,
      { error: 'Rate limit reached. You reached free usage limit (reset hourly).' },
      retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) },
    ),
  outOfCredits: (): Step =>
    json(402, { error: 'You have exceeded your monthly included credits for Inference Providers.' }),
  badToken: (): Step => json(401, { error: 'Invalid credentials in Authorization header' }),
  notFound: (model: string): Step => json(404, { error: `Model ${model} does not exist` }),
  gone: (): Step =>
    json(410, {
      error:
        'https://api-inference.huggingface.co is no longer supported. Please use https://router.huggingface.co instead.',
    }),
  unprocessable: (): Step =>
    json(422, { error: 'Input validation error: `inputs` must be non-empty', error_type: 'validation' }),
  serverError: (status = 500): Step => ({ kind: 'answer', status, body: '', contentType: 'text/plain' }),
  htmlPage: (): Step => ({
    kind: 'answer',
    status: 200,
    body: '<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went wrong</h1></body></html>',
    contentType: 'text/html; charset=utf-8',
  }),
  reset: (): Step => ({ kind: 'reset' }),
  cutMidHeaders: (): Step => ({ kind: 'cut', at: 'headers' }),
  cutMidBody: (): Step => ({ kind: 'cut', at: 'body' }),
  /** A complete answer with `status` and exactly these bytes, labelled `contentType`. */
  bytes: (contentType: string, body: Buffer, status = 200): Step => ({ kind: 'answer', status, body, contentType }),
  stall: (): Step => ({ kind: 'stall' }),
};

export interface RecordedRequest {
  model: string;
  /** The request's path, e.g. `/hf-inference/models/owner/name`. */
  path: string;
  authorization: string | undefined;
  headers: IncomingMessage['headers'];
  body: { inputs: string; parameters: Record<string, unknown> };
}

/**
 * What tells the images of one set apart: the emulators draw image i of a request seeded `s` with
 * mark `s + i`, and an unseeded one with mark i (none for the first, which is then exactly the image
 * the emulators always drew). A marked image has the mark (modulo 256) as the blue of every pixel,
 * and a red top-left pixel to say it is marked (see `markIn`).
 */
export type ImageMark = number | undefined;

/** The mark a PNG made by `makeImage` carries (modulo 256), or undefined for an unmarked one. */
export function markIn(png: Buffer): number | undefined {
  const { data } = PNG.sync.read(png);
  return data[0] === 255 ? data[2] : undefined;
}

const madeImages = new Map<string, Buffer>();

/**
 * Makes a real image of the asked size, so tests can check what the service stored. Cached per
 * format, size and mark, and the PNG uses one fixed row filter: pngjs's adaptive filtering takes
 * seconds for a 512×512 image under Jest, long enough to trip the worker's HF_TIMEOUT_MS.
 */
export function makeImage(format: 'png' | 'jpeg', width: number, height: number, mark?: ImageMark): Buffer {
  const blue = mark === undefined ? 128 : mark % 256;
  const key = `${format}:${width}x${height}:${mark === undefined ? '' : blue}`;
  const cached = madeImages.get(key);
  if (cached) return cached;
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = Math.floor((x * 255) / width);
      data[i + 1] = Math.floor((y * 255) / height);
      data[i + 2] = blue;
      data[i + 3] = 255;
    }
  }
  if (mark !== undefined) data[0] = 255;
  let bytes: Buffer;
  if (format === 'jpeg') {
    bytes = jpeg.encode({ data, width, height }, 80).data;
  } else {
    const png = new PNG({ width, height, filterType: 2 });
    data.copy(png.data);
    bytes = PNG.sync.write(png, { filterType: 2 });
  }
  madeImages.set(key, bytes);
  return bytes;
}

/**
 * A real HTTP server on 127.0.0.1 that behaves as the Hugging Face router does. Each model has a
 * script of answers, used in order; once it runs out, the model answers with a PNG of the asked size.
 * The hf-inference shape takes no count: a generation of several images sends a request per image,
 * and an image asked with `parameters.seed` carries that seed as its mark (see `ImageMark`).
 */
export class HfEmulator {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, Step[]>();
  private readonly seedScripts = new Map<string, Step[]>();
  private readonly fallbacks = new Map<string, Step>();
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();
  private readonly held = new HeldAnswers();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<HfEmulator> {
    const server = createServer();
    const emulator = new HfEmulator(server);
    server.on('request', (req, res) => void emulator.handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return emulator;
  }

  /** The value for HF_BASE_URL: requests go to `${baseUrl}/${owner}/${name}`. */
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hf-inference/models`;
  }

  script(model: string, ...steps: Step[]): void {
    this.scripts.set(model, [...(this.scripts.get(model) ?? []), ...steps]);
  }

  /**
   * Answers for the requests to `model` that carry `parameters.seed` `seed`, used before its other
   * script: so a test fails, or holds, one image's request of several sent at once.
   */
  scriptSeed(model: string, seed: number, ...steps: Step[]): void {
    const key = `${model}:${seed}`;
    this.seedScripts.set(key, [...(this.seedScripts.get(key) ?? []), ...steps]);
  }

  /** What `model` answers once its script runs out (by default, a PNG): e.g. an endless cold start. */
  always(model: string, step: Step): void {
    this.fallbacks.set(model, step);
  }

  requestsFor(model: string): RecordedRequest[] {
    return this.requests.filter((r) => r.model === model);
  }

  /** Resolves when the `n`th request (1-based, counted over the emulator's life) for `model` arrives. */
  async waitForRequests(model: string, n: number): Promise<void> {
    while (this.requestsFor(model).length < n) await once(this.events, 'request');
  }

  async close(): Promise<void> {
    this.held.releaseAll();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/hf-inference\/models\/([^/]+\/[^/]+)$/.exec(req.url ?? '');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || !match?.[1]) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not Found' }));
      return;
    }
    const model = decodeURIComponent(match[1]);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
    this.requests.push({
      model,
      path: req.url ?? '',
      authorization: req.headers.authorization,
      headers: req.headers,
      body,
    });
    this.events.emit('request');

    const seed = body.parameters?.seed;
    const bySeed = Number.isInteger(seed) ? this.seedScripts.get(`${model}:${String(seed)}`)?.shift() : undefined;
    const step = bySeed ?? this.scripts.get(model)?.shift() ?? this.fallbacks.get(model) ?? hf.png();
    await this.answer(step, body, req, res);
  }

  private async answer(
    step: Step,
    body: RecordedRequest['body'],
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const delayMs = 'delayMs' in step ? step.delayMs : undefined;
    const until = step.kind === 'image' || step.kind === 'answer' ? step.until : undefined;
    if (delayMs) await this.held.delay(delayMs, res);
    if (until) await this.held.hold((end) => void until.then(end, end), res);
    // The client gave up (its timeout, or a stopping worker) or the emulator closed: nobody to answer.
    if ((delayMs || until) && (res.destroyed || !res.socket || res.socket.destroyed)) return;
    switch (step.kind) {
      case 'image': {
        const width = Number(body.parameters?.width ?? 512);
        const height = Number(body.parameters?.height ?? 512);
        const seed = body.parameters?.seed;
        const bytes = makeImage(step.format, width, height, Number.isInteger(seed) ? Number(seed) : undefined);
        res.writeHead(200, { 'content-type': `image/${step.format}`, 'content-length': bytes.length }).end(bytes);
        return;
      }
      case 'answer':
        res.writeHead(step.status, { 'content-type': step.contentType, ...step.headers }).end(step.body);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'cut': {
        if (step.at === 'headers') {
          // Straight onto the socket, so the status line goes out and the headers stop half-way.
          req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Len', () => req.socket.destroy());
          return;
        }
        const width = Number(body.parameters?.width ?? 512);
        const height = Number(body.parameters?.height ?? 512);
        const bytes = makeImage('png', width, height);
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => req.socket.destroy());
        return;
      }
      case 'stall':
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write(makeImage('png', 8, 8).subarray(0, 16));
        return;
    }
  }
}
