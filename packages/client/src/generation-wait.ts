import { isTerminal, type Generation } from '@imagegen/shared';
import type { CallOptions, RecordOptions, StreamedEvent, WaitOptions } from './client-options';
import { ConnectionError, GenerationError, ServerError, StreamUnavailableError } from './errors';
import { sleep } from './sleep';

/** Reconnects to a live stream that broke before the end, before falling back to polling. */
const STREAM_RECONNECTS = 3;
const MAX_POLL_INTERVAL_MS = 5000;

/** What waiting reads of the API: the record, and its live events. */
export interface GenerationSource {
  getGeneration(id: string, options: RecordOptions): Promise<Generation>;
  events(id: string, options: CallOptions & { lastEventId?: string }): AsyncIterable<StreamedEvent>;
}

/** Waits for the run `current` is in to end (at once when it has). */
export async function waitForRun(
  source: GenerationSource,
  current: Generation,
  options: WaitOptions,
): Promise<Generation> {
  const via = options.via ?? 'auto';
  let record = current;
  if (via !== 'poll' && !isTerminal(record.status)) {
    try {
      await follow(source, record.id, options);
      // Stream events carry the record without its image: read it once (whole unless `minimal`).
      record = await source.getGeneration(record.id, options);
    } catch (err) {
      const unavailable =
        err instanceof ConnectionError || err instanceof ServerError || err instanceof StreamUnavailableError;
      if (via === 'sse' || !unavailable) throw err;
    }
  }
  if (!isTerminal(record.status)) record = await poll(source, record.id, options);
  if (record.status !== 'completed') throw new GenerationError(record);
  return record;
}

/** The live stream until the final status, reconnecting from the last event when it breaks. */
async function follow(source: GenerationSource, id: string, options: WaitOptions): Promise<void> {
  let lastEventId: string | undefined;
  let reconnects = 0;
  for (;;) {
    let received = 0;
    try {
      for await (const streamed of source.events(id, { signal: options.signal, ...(lastEventId && { lastEventId }) })) {
        received++;
        lastEventId = streamed.id ?? lastEventId;
        const { event } = streamed;
        options.onEvent?.(event);
        if (event.type === 'status' && isTerminal(event.status)) return;
      }
      // Nothing at all: the API said the end was had (204), or is stopping; the caller reads the record.
      if (received === 0) return;
      reconnects = 0;
    } catch (err) {
      if (received > 0) reconnects = 0;
      if (!(err instanceof ConnectionError) || ++reconnects > STREAM_RECONNECTS) throw err;
    }
    // The stream broke, or ended before the final status: resume after the last event.
    await sleep(500 * 2 ** reconnects, options.signal);
  }
}

/** Reads the record until it ends, telling `onEvent` each change of status or queue position. */
async function poll(source: GenerationSource, id: string, options: WaitOptions): Promise<Generation> {
  let interval = options.pollIntervalMs ?? 1000;
  let seen = '';
  for (;;) {
    const record = await source.getGeneration(id, options);
    const now = `${record.status}:${record.queue_position ?? ''}`;
    if (now !== seen) options.onEvent?.({ type: 'status', status: record.status, generation: record });
    seen = now;
    if (isTerminal(record.status)) return record;
    await sleep(interval, options.signal);
    interval = Math.min(interval * 1.5, MAX_POLL_INTERVAL_MS);
  }
}
