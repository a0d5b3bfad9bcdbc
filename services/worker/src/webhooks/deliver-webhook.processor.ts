import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { WebhookJobData, type WebhookAttemptOutcome } from '@imagegen/shared';
import type { Logger, WebhookMessageDocument } from '@imagegen/core';
import { ABORT_REASONS } from '../abort-reasons';
import { nextRetryDelay } from './retry-schedule';
import { signatureHeader } from './signature';
import type { SendResult, WebhookSender } from './webhook-sender';
import type { WebhookRepository } from './webhook.repository';
import type { WorkerMetrics } from '../metrics';

/** Thrown for a failed attempt that the schedule retries; the worker's backoff reads its delay. */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLater';
  }
}

export interface DeliveryDeps {
  repository: WebhookRepository;
  sender: WebhookSender;
  schedule: number[];
  logger: Logger;
  metrics: Pick<WorkerMetrics, 'webhookDelivered'>;
  now?: () => number;
}

/**
 * `webhook.deliver`: one signed POST of a stored message, logged. 2xx delivers; 410 stops for good;
 * anything else is retried on the schedule (a redelivery is a single attempt).
 */
export function deliverWebhookProcessor({
  repository,
  sender,
  schedule,
  logger,
  metrics,
  now = Date.now,
}: DeliveryDeps) {
  // Three declared parameters: BullMQ passes the abort signal only to processors whose `length` is 3.
  return async (job: Job, token: string | undefined, abort: AbortSignal | undefined): Promise<void> => {
    const signal = abort ?? new AbortController().signal;
    const payload = WebhookJobData.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`invalid job payload: ${payload.error.message}`);
    const { messageId, trigger } = payload.data;
    const log = logger.child({ jobId: job.id, messageId, trigger });

    const message = await repository.findMessage(messageId);
    if (!message) {
      log.warn('webhook message is gone; nothing to send');
      return;
    }
    // The receiver answered 410: it is sent nothing more, redeliveries queued before that included.
    if (message.state === 'stopped') return;
    // A redelivery may already have got through.
    if (trigger === 'scheduled' && message.state === 'delivered') return;

    const attemptedAt = new Date(now());
    const secrets = await repository.signingSecrets(message.user_id, attemptedAt);
    // Every user with a webhook gets a secret when creating the generation; none means the account is gone.
    if (secrets.length === 0) throw new UnrecoverableError('the account has no signing secret');
    const result = await send(message, secrets, attemptedAt, signal).catch(async (err: unknown) => {
      if (signal.reason !== ABORT_REASONS.shutdown || !token) throw err;
      // Hand the job back without spending an attempt; the message keeps its id when sent again.
      await job.moveToDelayed(now(), token);
      throw new DelayedError();
    });

    const failures = job.attemptsMade + 1;
    const retriesLeft = trigger === 'scheduled' && failures < (job.opts.attempts ?? 1);
    const { outcome, delayMs } = judge(
      result,
      retriesLeft ? nextRetryDelay(schedule, failures, result.retryAfterMs) : null,
    );
    await repository.recordAttempt(
      {
        _id: new ObjectId(),
        message_id: message._id,
        generation_id: message.generation_id,
        user_id: message.user_id,
        type: message.type,
        trigger,
        url: message.url,
        attempted_at: attemptedAt,
        status_code: result.statusCode,
        error: result.error,
        duration_ms: result.durationMs,
        outcome,
        next_retry_at: delayMs === null ? null : new Date(attemptedAt.getTime() + result.durationMs + delayMs),
      },
      outcome,
    );
    log.info(
      { status: result.statusCode, outcome, error: result.error, detail: result.detail, ms: result.durationMs },
      'webhook attempt',
    );
    metrics.webhookDelivered(outcome);

    if (outcome === 'delivered') return;
    const reason = result.error ?? 'delivery failed';
    if (delayMs === null) throw new UnrecoverableError(reason);
    throw new RetryLater(reason, delayMs);
  };

  function send(message: WebhookMessageDocument, secrets: string[], at: Date, signal: AbortSignal) {
    const timestamp = Math.floor(at.getTime() / 1000);
    return sender.send(
      {
        url: message.url,
        body: message.body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'imagegen-webhooks/1',
          'webhook-id': message._id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(secrets, message._id, timestamp, message.body),
        },
      },
      signal,
    );
  }
}

/** The attempt's outcome; a retry delay only when one is due. */
function judge(
  result: SendResult,
  retryDelay: number | null,
): { outcome: WebhookAttemptOutcome; delayMs: number | null } {
  const status = result.statusCode;
  if (status !== null && status >= 200 && status < 300) return { outcome: 'delivered', delayMs: null };
  // 410 Gone: the receiver asks us to stop sending this message (Standard Webhooks).
  if (status === 410) return { outcome: 'stopped', delayMs: null };
  if (result.forbidden || retryDelay === null) return { outcome: 'failed', delayMs: null };
  return { outcome: 'retrying', delayMs: retryDelay };
}
