import type { WebhookAttemptView, WebhookMessageView } from '@imagegen/shared';
import type { WebhookAttemptDocument, WebhookMessageDocument } from '@imagegen/core';

export function toMessageView(doc: WebhookMessageDocument): WebhookMessageView {
  return {
    id: doc._id,
    type: doc.type,
    url: doc.url,
    state: doc.state,
    attempts: doc.attempts,
    next_attempt_at: doc.next_attempt_at?.toISOString() ?? null,
    created_at: doc.created_at.toISOString(),
  };
}

export function toAttemptView(doc: WebhookAttemptDocument): WebhookAttemptView {
  return {
    id: doc._id.toHexString(),
    message_id: doc.message_id,
    type: doc.type,
    trigger: doc.trigger,
    url: doc.url,
    attempted_at: doc.attempted_at.toISOString(),
    status_code: doc.status_code,
    error: doc.error,
    duration_ms: doc.duration_ms,
    outcome: doc.outcome,
    next_retry_at: doc.next_retry_at?.toISOString() ?? null,
  };
}
