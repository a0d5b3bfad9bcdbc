import { Agent, request } from 'undici';
import { seconds } from '../hf/backoff';
import { HfFailure, type HfOutcome } from '../hf/hf-answer';
import type { HfObserver } from '../metrics';
import type { ProviderAdapter, ProviderAnswer, ProviderRequest } from './adapter';
import { whoOf, type Speaker } from './provider-answer';

export interface ProviderHttpOptions {
  /** One request, headers and body together. */
  timeoutMs: number;
  maxImageBytes: number;
  /** Told of every answer and every wait (the worker's metrics). */
  observer?: HfObserver;
  /**
   * Connections kept per origin: at least as many as the worker can have requests in flight, or a
   * job waits for another's connection while its own slot sits idle. Unbounded when absent.
   */
  connections?: number;
}

/** What a request needs of the call it belongs to: who is asked, until when, and its abort. */
export interface SendPlan extends Speaker {
  signal: AbortSignal;
  /** When the job's whole budget (HF_MAX_WAIT_MS) ends. */
  deadline: number;
}

/** The job's budget ended before the answer could. */
export type OutOfTimeOutcome = { kind: 'out-of-time'; detail: string };

class BodyTooLarge extends Error {}

/**
 * One request to a provider over undici with a keep-alive pool, bounded by the request timeout,
 * the job's budget and a size cap; a failure to get an answer comes back as the outcome it means.
 */
export class ProviderHttp {
  private readonly agent: Agent;

  constructor(
    private readonly options: ProviderHttpOptions,
    private readonly now: () => number,
  ) {
    this.agent = new Agent({
      connections: options.connections ?? null,
      keepAliveTimeout: 30_000,
      connect: { timeout: 10_000 },
      // The whole-answer timeout is an AbortSignal per request (see `send`), so undici's own idle
      // timers are off: a body that trickles forever is cut all the same.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /**
   * Sends `req` within the job's budget; credentials go only to the adapter's own origin, never to a
   * download. Its answer may carry `images` images (the count it asked for), each within the size cap.
   */
  async send(
    adapter: ProviderAdapter,
    token: string,
    req: ProviderRequest,
    plan: SendPlan,
    images = 1,
  ): Promise<ProviderAnswer | HfOutcome | OutOfTimeOutcome> {
    const budgetLeftMs = plan.deadline - this.now();
    const timeoutMs = Math.max(1, Math.min(this.options.timeoutMs, budgetLeftMs));
    const timeout = AbortSignal.timeout(timeoutMs);
    const sent = this.now();
    const answered = (code: string) => this.options.observer?.answered(code, (this.now() - sent) / 1000);
    const ours = req.stage !== 'download' && new URL(req.url).origin === adapter.origin;
    try {
      const res = await request(req.url, {
        method: req.method,
        dispatcher: this.agent,
        signal: AbortSignal.any([plan.signal, timeout]),
        headers: {
          ...(req.body !== undefined && { 'content-type': 'application/json' }),
          ...req.headers,
          ...(ours && { authorization: `Bearer ${token}` }),
        },
        ...(req.body !== undefined && { body: JSON.stringify(req.body) }),
      });
      const body = await readAtMost(res.body, this.options.maxImageBytes * images);
      answered(String(res.statusCode));
      const headers = Object.fromEntries(
        Object.entries(res.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]),
      );
      return { status: res.statusCode, headers, body };
    } catch (err) {
      if (plan.signal.aborted) throw plan.signal.reason ?? err;
      answered(err instanceof BodyTooLarge ? 'too-large' : 'network');
      if (err instanceof BodyTooLarge) {
        const what = req.stage === 'download' ? `its image was more than` : 'answered more than';
        return {
          kind: 'fail',
          failure: new HfFailure(`${whoOf(plan)} ${what} ${this.options.maxImageBytes * images} bytes`),
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

  close(): Promise<void> {
    return this.agent.close();
  }
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
