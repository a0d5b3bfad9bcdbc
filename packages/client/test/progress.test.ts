import { describeEvent } from '@imagegen/client';
import type { GenerationSummary } from '@imagegen/shared';

/** Only the fields describeEvent reads matter; the rest of a summary is beside the point here. */
const summary = (fields: Partial<GenerationSummary> & Record<string, unknown>) => fields as GenerationSummary;

describe('describeEvent', () => {
  test.each([
    [
      'a pending event with its place',
      { queue_position: 3, estimated_start_seconds: 41.2 },
      'queued, position 3, starts in about 42 s',
    ],
    [
      'a pending event with a place but no estimate',
      { queue_position: 1, estimated_start_seconds: null },
      'queued, position 1',
    ],
    [
      'a pending event of a job a worker has just taken',
      { queue_position: 1, estimated_start_seconds: 0 },
      'queued, position 1, starting now',
    ],
    [
      'a pending event of a job not in line (waiting to retry)',
      { queue_position: null, estimated_start_seconds: null },
      'queued',
    ],
    ['a stored pending event, without a place', {}, 'queued'],
  ])('when it is %s, then it reads as expected', (_name, place, text) => {
    expect(
      describeEvent({ type: 'status', status: 'pending', generation: summary({ status: 'pending', ...place }) }),
    ).toBe(text);
  });

  test('when the place changes, then the queue event reads as the pending one would', () => {
    expect(describeEvent({ type: 'queue', queue_position: 2, estimated_start_seconds: 10 })).toBe(
      'queued, position 2, starts in about 10 s',
    );
    expect(describeEvent({ type: 'queue', queue_position: null, estimated_start_seconds: null })).toBe('queued');
  });

  test('when it is a notice or a later status, then it reads as the worker and the record say', () => {
    expect(
      describeEvent({
        type: 'notice',
        message: 'model m is loading (about 18 s); retrying in 18 s',
        retry_in_seconds: 18,
      }),
    ).toBe('model m is loading (about 18 s); retrying in 18 s');
    expect(describeEvent({ type: 'status', status: 'processing', generation: summary({ status: 'processing' }) })).toBe(
      'generating',
    );
    expect(
      describeEvent({
        type: 'status',
        status: 'failed',
        generation: summary({ status: 'failed', error: 'out of credits' }),
      }),
    ).toBe('failed: out of credits');
  });
});
