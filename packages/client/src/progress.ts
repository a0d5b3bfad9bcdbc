import type { GenerationEvent } from '@imagegen/shared';

/** Words for each event of a generation's stream, as a progress line shows them. */
export function describeEvent(event: GenerationEvent): string {
  if (event.type === 'notice') return event.message;
  if (event.type === 'queue') return queued(event.queue_position, event.estimated_start_seconds);
  const { generation } = event;
  switch (event.status) {
    case 'pending':
      // A record, and a stream's pending event, tell the place; an event read from storage does not.
      return queued(generation.queue_position ?? null, generation.estimated_start_seconds ?? null);
    case 'processing':
      return 'generating';
    case 'completed':
      return 'done';
    case 'failed':
      return `failed: ${generation.error ?? 'no reason given'}`;
    case 'canceled':
      return 'canceled';
  }
}

function queued(position: number | null, startSeconds: number | null): string {
  if (position === null) return 'queued';
  if (startSeconds === null) return `queued, position ${position}`;
  // 0: a worker has just taken the job, or the one ahead ends within the second.
  if (startSeconds === 0) return `queued, position ${position}, starting now`;
  return `queued, position ${position}, starts in about ${Math.ceil(startSeconds)} s`;
}
