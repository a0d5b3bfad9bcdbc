import { request, type Dispatcher } from 'undici';
import { WebhookTargetError } from '@imagegen/core';
import { parseRetryAfter } from '../retry-after';

/** What one POST to a receiver came to. */
export interface SendResult {
  /** The receiver's status, or null when it gave none (refused, timed out, reset). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  retryAfterMs: number | undefined;
  /** The target is not an address we call (see `WEBHOOK_ALLOW_PRIVATE`): retrying cannot help. */
  forbidden: boolean;
  /** For our log only: why a target was refused (the address it resolved to). `error` is the user's to read. */
  detail?: string;
}

export interface OutgoingWebhook {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** How much of a receiver's answer we read before dropping the connection; we only need its status. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Sends a webhook once. Redirects are not followed: a 3xx is a failed attempt like any non-2xx. */
export class WebhookSender {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Never throws for the receiver's faults; rethrows only when `signal` (the job's) aborts. */
  async send(webhook: OutgoingWebhook, signal: AbortSignal): Promise<SendResult> {
    const started = this.now();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const result = (fields: Partial<SendResult>): SendResult => ({
      statusCode: null,
      error: null,
      retryAfterMs: undefined,
      forbidden: false,
      ...fields,
      durationMs: this.now() - started,
    });
    try {
      const res = await request(webhook.url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: webhook.headers,
        body: webhook.body,
        signal: AbortSignal.any([signal, timeout]),
      });
      // The status decides; a body cut short or never finished does not undo an answer already given.
      await res.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const retryAfter = res.headers['retry-after'];
      return result({
        statusCode: res.statusCode,
        error: ok ? null : `the receiver answered ${res.statusCode}`,
        retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (timeout.aborted) return result({ error: `no complete answer within ${this.timeoutMs} ms` });
      if (err instanceof WebhookTargetError)
        return result({ error: err.message, forbidden: err.reason === 'forbidden', detail: err.detail });
      const code = (err as NodeJS.ErrnoException).code;
      return result({ error: code ? `${code}: ${(err as Error).message}` : (err as Error).message });
    }
  }
}
