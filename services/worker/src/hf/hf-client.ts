import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { ImageSource, RenderOptions, RenderRequest } from '../images/image-source';
import type { SniffedImage } from '../images/sniff';
import { retryDelay, seconds, type BackoffPolicy } from './backoff';
import { HfFailure, classifyAnswer, type HfOutcome } from './hf-answer';
import type { HfObserver } from '../metrics';

export interface HfClientOptions {
  baseUrl: string;
  token: string;
  timeoutMs: number;
  maxWaitMs: number;
  maxImageBytes: number;
  backoff: BackoffPolicy;
  /** Told of every answer and every wait (the worker's metrics). */
  observer?: HfObserver;
}

class BodyTooLarge extends Error {}

/** An attempt the retry budget cut short: no answer of Hugging Face's, so not one to report. */
type AttemptOutcome = HfOutcome | { kind: 'out-of-time'; detail: string };

/**
 * Hugging Face text-to-image over undici with a keep-alive pool. One `render` retries cold starts,
 * rate limits and transient errors with bounded backoff, and fails at once on answers that retrying
 * cannot change.
 */
export class HfClient implements ImageSource {
  readonly description: string;
  private readonly agent: Agent;

  constructor(
    private readonly options: HfClientOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `Hugging Face at ${options.baseUrl}`;
    this.agent = new Agent({
      connections: 32,
      keepAliveTimeout: 30_000,
      connect: { timeout: 10_000 },
      // The whole-answer timeout is an AbortSignal per attempt (see `attempt`), so undici's own
      // idle timers are off: a body that trickles forever is cut all the same.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  async render(req: RenderRequest, { signal, onRetry }: RenderOptions): Promise<SniffedImage> {
    const started = this.now();
    const outOfTime = (attempts: number, lastAnswer: string) =>
      new HfFailure(
        `Hugging Face did not produce an image within ${seconds(this.options.maxWaitMs)} (${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}); last answer: ${lastAnswer}`,
      );
    let lastAnswer: string | undefined;
    for (let retry = 0; ; retry++) {
      const outcome = await this.attempt(req, signal, started + this.options.maxWaitMs);
      if (outcome.kind === 'image') return outcome.image;
      if (outcome.kind === 'fail') throw outcome.failure;
      if (outcome.kind === 'out-of-time') throw outOfTime(retry + 1, lastAnswer ?? outcome.detail);
      lastAnswer = outcome.detail;
      const delayMs = retryDelay(this.options.backoff, outcome.reason, retry);
      const waited = this.now() - started;
      // A wait is only worth taking if the attempt after it can run at least as long again: one
      // squeezed into the budget's last moments is cut off before Hugging Face can answer, and only
      // holds the worker's slot.
      const attemptWindow = Math.min(delayMs, this.options.timeoutMs);
      if (waited + delayMs + attemptWindow > this.options.maxWaitMs) throw outOfTime(retry + 1, outcome.detail);
      this.options.observer?.retrying(outcome.reason.kind, delayMs);
      onRetry?.({ retry: retry + 1, delayMs, detail: outcome.detail });
      // timers/promises rejects with a generic AbortError; callers expect the reason, as in `attempt`.
      await sleep(delayMs, undefined, { signal }).catch((err: unknown) => {
        throw signal.aborted ? (signal.reason ?? err) : err;
      });
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** One request; it may not run past the job's retry budget (`deadline`). */
  private async attempt(req: RenderRequest, signal: AbortSignal, deadline: number): Promise<AttemptOutcome> {
    const { model } = req.settings;
    const budgetLeftMs = deadline - this.now();
    const timeoutMs = Math.max(1, Math.min(this.options.timeoutMs, budgetLeftMs));
    const timeout = AbortSignal.timeout(timeoutMs);
    const sent = this.now();
    const answered = (code: string) => this.options.observer?.answered(code, (this.now() - sent) / 1000);
    try {
      const res = await request(`${this.options.baseUrl.replace(/\/+$/, '')}/${model}`, {
        method: 'POST',
        dispatcher: this.agent,
        signal: AbortSignal.any([signal, timeout]),
        headers: {
          authorization: `Bearer ${this.options.token}`,
          'content-type': 'application/json',
          accept: 'image/png, image/jpeg, image/webp, application/json;q=0.5',
        },
        body: JSON.stringify(hfBody(req)),
      });
      const body = await readAtMost(res.body, this.options.maxImageBytes);
      answered(String(res.statusCode));
      return classifyAnswer(model, {
        status: res.statusCode,
        contentType: header(res.headers['content-type']),
        retryAfter: header(res.headers['retry-after']),
        body,
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      answered(err instanceof BodyTooLarge ? 'too-large' : 'network');
      if (err instanceof BodyTooLarge) {
        return {
          kind: 'fail',
          failure: new HfFailure(`Hugging Face answered more than ${this.options.maxImageBytes} bytes`),
        };
      }
      if (!timeout.aborted) {
        const detail = `connection error (${(err as { code?: string }).code ?? (err as Error).message})`;
        return { kind: 'retry', reason: { kind: 'network' }, detail };
      }
      const detail = `no complete answer within ${seconds(timeoutMs)}`;
      if (budgetLeftMs < this.options.timeoutMs) return { kind: 'out-of-time', detail };
      return { kind: 'retry', reason: { kind: 'network' }, detail };
    }
  }
}

/** The text-to-image request body (huggingface.js `text-to-image/spec/input.json`). */
function hfBody({ prompt, settings }: RenderRequest) {
  const parameters: Record<string, unknown> = { width: settings.width, height: settings.height };
  if (settings.negative_prompt) parameters.negative_prompt = settings.negative_prompt;
  if (settings.num_inference_steps !== null) parameters.num_inference_steps = settings.num_inference_steps;
  if (settings.guidance_scale !== null) parameters.guidance_scale = settings.guidance_scale;
  if (settings.seed !== null) parameters.seed = settings.seed;
  return { inputs: prompt, parameters };
}

async function readAtMost(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
