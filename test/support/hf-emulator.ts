import { once, EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** One scripted answer of the emulator. */
export type Step =
  | { kind: 'image'; format: 'png' | 'jpeg'; delayMs?: number }
  | { kind: 'answer'; status: number; body: string; contentType: string; headers?: Record<string, string>; delayMs?: number }
  /** Close the connection without answering. */
  | { kind: 'reset' }
  /** Send 200 headers and a first chunk of body, then never finish. */
  | { kind: 'stall' };

const json = (status: number, body: unknown, headers?: Record<string, string>): Step => ({
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
  coldStart: (model: string, estimatedSeconds: number): Step =>
    json(503, { error: `Model ${model} is currently loading`, estimated_time: estimatedSeconds }),
  rateLimited: (retryAfterSeconds?: number): Step =>
    json(429, { error: 'Rate limit reached. You reached free usage limit (reset hourly).' }, retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) }),
  outOfCredits: (): Step => json(402, { error: 'You have exceeded your monthly included credits for Inference Providers.' }),
  badToken: (): Step => json(401, { error: 'Invalid credentials in Authorization header' }),
  notFound: (model: string): Step => json(404, { error: `Model ${model} does not exist` }),
  gone: (): Step =>
    json(410, { error: 'https://api-inference.huggingface.co is no longer supported. Please use https://router.huggingface.co instead.' }),
  unprocessable: (): Step => json(422, { error: 'Input validation error: `inputs` must be non-empty', error_type: 'validation' }),
  serverError: (status = 500): Step => ({ kind: 'answer', status, body: '', contentType: 'text/plain' }),
  htmlPage: (): Step => ({
    kind: 'answer',
    status: 200,
    body: '<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went wrong</h1></body></html>',
    contentType: 'text/html; charset=utf-8',
  }),
  reset: (): Step => ({ kind: 'reset' }),
  stall: (): Step => ({ kind: 'stall' }),
};

export interface RecordedRequest {
  model: string;
  authorization: string | undefined;
  body: { inputs: string; parameters: Record<string, unknown> };
}

/** Makes a real image of the asked size, so tests can check what the service stored. */
export function makeImage(format: 'png' | 'jpeg', width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([Math.floor((x * 255) / width), Math.floor((y * 255) / height), 128, 255], (y * width + x) * 4);
    }
  }
  if (format === 'jpeg') return jpeg.encode({ data, width, height }, 80).data;
  const png = new PNG({ width, height });
  data.copy(png.data);
  return PNG.sync.write(png);
}

/**
 * A real HTTP server on 127.0.0.1 that behaves as the Hugging Face router does. Each model has a
 * script of answers, used in order; once it runs out, the model answers with a PNG of the asked size.
 */
export class HfEmulator {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, Step[]>();
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();

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

  requestsFor(model: string): RecordedRequest[] {
    return this.requests.filter((r) => r.model === model);
  }

  /** Resolves when the `n`th request (1-based, counted over the emulator's life) for `model` arrives. */
  async waitForRequests(model: string, n: number): Promise<void> {
    while (this.requestsFor(model).length < n) await once(this.events, 'request');
  }

  async close(): Promise<void> {
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
    this.requests.push({ model, authorization: req.headers.authorization, body });
    this.events.emit('request');

    const step = this.scripts.get(model)?.shift() ?? hf.png();
    await this.answer(step, body, req, res);
  }

  private async answer(step: Step, body: RecordedRequest['body'], req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ('delayMs' in step && step.delayMs) await new Promise((resolve) => setTimeout(resolve, step.delayMs));
    switch (step.kind) {
      case 'image': {
        const width = Number(body.parameters?.width ?? 512);
        const height = Number(body.parameters?.height ?? 512);
        const bytes = makeImage(step.format, width, height);
        res.writeHead(200, { 'content-type': `image/${step.format}`, 'content-length': bytes.length }).end(bytes);
        return;
      }
      case 'answer':
        res.writeHead(step.status, { 'content-type': step.contentType, ...step.headers }).end(step.body);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'stall':
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write(makeImage('png', 8, 8).subarray(0, 16));
        return;
    }
  }
}
