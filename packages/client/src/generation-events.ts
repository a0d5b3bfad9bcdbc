import { GenerationEvent } from '@imagegen/shared';
import type { CallOptions, StreamedEvent } from './client-options';
import { ConnectionError, StreamUnavailableError } from './errors';
import { readEvents } from './sse';
import type { Transport } from './transport';

/** The stream's event names the contract defines; others (from a newer API) are skipped. */
const EVENT_TYPES = new Set<string>(GenerationEvent.options.map((option) => option.shape.type.value));

/**
 * The events of one connection to `path` (a generation's `/events`): those after `lastEventId`
 * (all, without one), then each as it happens. Nothing when the API answers 204.
 */
export async function* generationEvents(
  transport: Transport,
  path: string,
  options: CallOptions & { lastEventId?: string },
): AsyncGenerator<StreamedEvent> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (options.lastEventId) headers['Last-Event-ID'] = options.lastEventId;
  const response = await transport.send('GET', path, {
    headers,
    signal: options.signal,
    // Not retried here: reconnecting, from the last event, is `follow`'s job.
    idempotent: false,
  });
  if (response.status === 204 || !response.body) return;
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/event-stream')) {
    await response.body.cancel();
    throw new StreamUnavailableError(
      `The event stream answered with ${type || 'no Content-Type'} (a proxy in between?)`,
    );
  }
  try {
    for await (const { id: eventId, event, data } of readEvents(response.body)) {
      if (EVENT_TYPES.has(event)) yield { id: eventId, event: JSON.parse(data) as GenerationEvent };
    }
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new ConnectionError(`The event stream broke: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}
