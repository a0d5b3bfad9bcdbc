import { setTimeout as sleep } from 'node:timers/promises';
import type { RetryNotice } from '../images/image-source';
import type { SniffedImage } from '../images/sniff';
import { retryDelay, seconds, type BackoffPolicy } from '../hf/backoff';
import { HfFailure, type HfOutcome } from '../hf/hf-answer';
import type { ProviderAdapter, ProviderJob, ProviderRequest } from './adapter';
import { meaningOf, whoOf, type Meaning } from './provider-answer';
import { ProviderHttp, type OutOfTimeOutcome, type ProviderHttpOptions, type SendPlan } from './provider-http';

export interface ProviderClientOptions extends ProviderHttpOptions {
  backoff: BackoffPolicy;
  /** Overrides every provider's own interval between polls. */
  pollIntervalMs?: number;
}

/** How one provider's call fits the job: its budget, and whether another provider comes after it. */
export interface CallPlan extends SendPlan {
  /** The whole budget, for messages. */
  budgetMs: number;
  /**
   * Set when another provider could take the job: a failure it might not have (5xx, a connection
   * error, a cold start) then moves on at once, and a rate limit once this provider's share of the
   * budget (`shareEndsAt`) would be spent waiting.
   */
  nextProvider?: { shareEndsAt: number };
  onRetry?: (notice: RetryNotice) => void;
}

/** The job's images, in order, or why this provider could not give them and another may. */
export type CallResult =
  { kind: 'images'; images: SniffedImage[] } | { kind: 'move-on'; detail: string; unsupported?: boolean };

/** The job's budget ran out with no image. `detail` says how, for a message that names every provider tried. */
export class OutOfTime extends HfFailure {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
    this.name = 'OutOfTime';
  }
}

/** An upstream cancel gets this long: we are leaving anyway. */
const CANCEL_TIMEOUT_MS = 5_000;

/**
 * Runs one provider's protocol for one request: the submit, polls of a queued job, and the download
 * of each image, with bounded backoff on answers that retrying can change and at once on those it
 * cannot. The same for every provider; what differs is the adapter.
 */
export class ProviderClient {
  private readonly http: ProviderHttp;

  constructor(
    private readonly options: ProviderClientOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.http = new ProviderHttp(options, now);
  }

  /**
   * Asks `adapter`'s provider for the job's images (one request's worth, `job.images`) with `token`;
   * throws HfFailure when nobody could do better.
   */
  async call(adapter: ProviderAdapter, token: string, job: ProviderJob, plan: CallPlan): Promise<CallResult> {
    let request = adapter.submit(job);
    // A queued job we stop waiting for is withdrawn, so the provider neither runs nor bills it.
    let cancel: ProviderRequest | undefined;
    // The images once the provider gave them, in its order; those it gave as URLs are downloaded in turn.
    let images: (SniffedImage | undefined)[] = [];
    let downloads: { index: number; url: string }[] = [];
    let submits = 0;
    let retry = 0;
    let lastAnswer: string | undefined;
    const outOfTime = (detail: string) => {
      const tries = `${submits} ${submits === 1 ? 'attempt' : 'attempts'}`;
      const said = `did not produce an image within ${seconds(plan.budgetMs)} (${tries}); last answer: ${lastAnswer ?? detail}`;
      return new OutOfTime(`${whoOf(plan)} ${said}`, said);
    };
    try {
      for (;;) {
        if (request.stage === 'submit') submits += 1;
        const outcome = await this.step(adapter, token, request, job, plan);
        // A job whose result has been read has ended upstream: there is nothing left to withdraw.
        if (request.stage === 'result' && outcome.kind !== 'followup') cancel = undefined;
        switch (outcome.kind) {
          case 'followup': {
            retry = 0;
            const next = outcome.followup;
            if (next.kind === 'job-failed') {
              cancel = undefined;
              return this.moveOn(plan, next.detail);
            }
            cancel = next.cancel ?? cancel;
            const waitMs = next.afterMs === 0 ? 0 : (this.options.pollIntervalMs ?? next.afterMs);
            if (this.now() + waitMs >= plan.deadline) throw outOfTime(`still queued at ${adapter.name}`);
            await this.wait(waitMs, plan.signal);
            request = next.request;
            continue;
          }
          case 'found':
            retry = 0;
            cancel = undefined;
            images = outcome.images.map((found) => (found.kind === 'image' ? found.image : undefined));
            downloads = outcome.images.flatMap((found, index) =>
              found.kind === 'download' ? [{ index, url: found.url }] : [],
            );
            break;
          case 'image':
            // A download's: the first of those left.
            retry = 0;
            images[downloads.shift()!.index] = outcome.image;
            break;
          case 'fail':
            throw outcome.failure;
          case 'move-on':
            return this.moveOn(plan, outcome.detail, outcome.unsupported);
          case 'out-of-time':
            throw outOfTime(outcome.detail);
          case 'retry': {
            lastAnswer = outcome.detail;
            const delayMs = retryDelay(this.options.backoff, outcome.reason, retry);
            const verdict = this.afterRetryable(outcome, delayMs, request.stage, plan);
            if (verdict === 'out-of-time') throw outOfTime(outcome.detail);
            if (verdict === 'move-on') return this.moveOn(plan, outcome.detail);
            this.options.observer?.retrying(outcome.reason.kind, delayMs);
            plan.onRetry?.({ retry: retry + 1, delayMs, detail: outcome.detail });
            await this.wait(delayMs, plan.signal);
            retry += 1;
            continue;
          }
        }
        const download = downloads[0];
        if (!download) return { kind: 'images', images: images as SniffedImage[] };
        request = { method: 'GET', url: download.url, stage: 'download' };
      }
    } finally {
      if (cancel) void this.withdraw(adapter, token, cancel);
    }
  }

  /**
   * Whether to wait `delayMs` and ask again, move on to the next provider, or give up. A wait is only
   * worth taking if the request after it can run at least as long again: one squeezed into the
   * budget's last moments is cut off before the provider can answer, and only holds the worker's
   * slot. A submit with another provider after it moves on at once, except on a rate limit, which
   * may wait out this provider's share of the budget; a queued job's polls are never moved on from.
   */
  private afterRetryable(
    outcome: Extract<HfOutcome, { kind: 'retry' }>,
    delayMs: number,
    stage: string,
    plan: CallPlan,
  ): 'wait' | 'move-on' | 'out-of-time' {
    const ready = this.now() + delayMs + Math.min(delayMs, this.options.timeoutMs);
    if (plan.nextProvider && stage === 'submit') {
      if (outcome.reason.kind !== 'rate-limited' || ready > plan.nextProvider.shareEndsAt) return 'move-on';
    }
    return ready > plan.deadline ? 'out-of-time' : 'wait';
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private moveOn(plan: CallPlan, detail: string, unsupported?: boolean): CallResult {
    if (!plan.routed) throw new HfFailure(`${whoOf(plan)}: ${detail}`);
    return { kind: 'move-on', detail, ...(unsupported && { unsupported }) };
  }

  /** timers/promises rejects with a generic AbortError; callers expect the signal's reason. */
  private async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0) {
      if (signal.aborted) throw signal.reason;
      return;
    }
    await sleep(ms, undefined, { signal }).catch((err: unknown) => {
      throw signal.aborted ? (signal.reason ?? err) : err;
    });
  }

  /** One request and what its answer means. */
  private async step(
    adapter: ProviderAdapter,
    token: string,
    req: ProviderRequest,
    job: ProviderJob,
    plan: CallPlan,
  ): Promise<Meaning | OutOfTimeOutcome> {
    // A download is one image; any other answer may carry all the request asked for.
    const sent = await this.http.send(adapter, token, req, plan, req.stage === 'download' ? 1 : job.images);
    return 'kind' in sent ? sent : meaningOf(adapter, req, sent, job, plan);
  }

  /** Withdraws a queued job upstream; best effort, as the generation has ended for us either way. */
  private async withdraw(adapter: ProviderAdapter, token: string, cancel: ProviderRequest): Promise<void> {
    await this.http
      .send(adapter, token, cancel, { signal: new AbortController().signal, deadline: this.now() + CANCEL_TIMEOUT_MS })
      .catch(() => undefined);
  }
}
