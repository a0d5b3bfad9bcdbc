import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WebhookAttemptOutcome } from '@imagegen/shared';
import type { RetentionKind, SweepObserver } from './retention/sweep-task';

/** How a generation job's run ended, as counted in `imagegen_jobs_total`. */
export type JobOutcome = 'completed' | 'failed' | 'canceled' | 'handed-back' | 'error';

/** What the Hugging Face client reports; the worker's metrics are one implementation. */
export interface HfObserver {
  /** One answer (`code`: its HTTP status, or `network` when none came) after `seconds`. */
  answered(code: string, seconds: number): void;
  /** A wait before asking again; `reason`: cold-start, rate-limit, server-error or network. */
  retrying(reason: string, delayMs: number): void;
}

/**
 * The worker's Prometheus metrics, served at `/metrics` on its health port. Labels take a few fixed
 * values each (outcomes, status codes, reasons), never ids, so series stay bounded.
 */
export class WorkerMetrics implements HfObserver, SweepObserver {
  readonly registry = new Registry();
  private readonly jobs = new Counter({
    name: 'imagegen_jobs_total',
    help: 'Generation job runs by how they ended',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly jobSeconds = new Histogram({
    name: 'imagegen_job_duration_seconds',
    help: 'Generation job runs from start to end, by outcome',
    labelNames: ['outcome'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [this.registry],
  });
  private readonly hfSeconds = new Histogram({
    name: 'imagegen_hf_request_duration_seconds',
    help: 'Hugging Face requests by answer status code (network: no answer; too-large: over HF_MAX_IMAGE_BYTES)',
    labelNames: ['code'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60],
    registers: [this.registry],
  });
  private readonly hfRetries = new Counter({
    name: 'imagegen_hf_retries_total',
    help: 'Waits before asking Hugging Face again, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly hfWaitSeconds = new Counter({
    name: 'imagegen_hf_retry_wait_seconds_total',
    help: 'Time spent waiting before asking Hugging Face again (cold starts, rate limits), by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly webhooks = new Counter({
    name: 'imagegen_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly retentionRemovedTotal = new Counter({
    name: 'imagegen_retention_removed_total',
    help: 'Records and images the retention sweep removed, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly sweepSeconds = new Histogram({
    name: 'imagegen_retention_pass_duration_seconds',
    help: 'Passes of the retention sweep, from start to end',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  jobEnded(outcome: JobOutcome, ms: number): void {
    this.jobs.inc({ outcome });
    this.jobSeconds.observe({ outcome }, ms / 1000);
  }

  answered(code: string, seconds: number): void {
    this.hfSeconds.observe({ code }, seconds);
  }

  retrying(reason: string, delayMs: number): void {
    this.hfRetries.inc({ reason });
    this.hfWaitSeconds.inc({ reason }, delayMs / 1000);
  }

  webhookDelivered(outcome: WebhookAttemptOutcome): void {
    this.webhooks.inc({ outcome });
  }

  retentionRemoved(kind: RetentionKind, count: number): void {
    this.retentionRemovedTotal.inc({ kind }, count);
  }

  sweepPassEnded(seconds: number): void {
    this.sweepSeconds.observe(seconds);
  }
}
