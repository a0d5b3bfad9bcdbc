import { ObjectId } from 'mongodb';
import { GenerationJobData, type GenerationStatus } from '@imagegen/shared';
import { generationJobData, newGeneration } from '../src';
import { SETTINGS } from '../../../test/support/generation-settings';

describe('a run’s job payload', () => {
  const record = (status: GenerationStatus, rev?: number) => {
    const { rev: _rev, ...doc } = { ...newGeneration(new ObjectId(), 'a cat', SETTINGS), status, run: 2 };
    return rev === undefined ? doc : { ...doc, rev };
  };

  test('when the record is pending, then the job names the revision its worker may start from', () => {
    const doc = record('pending', 4);
    const data = generationJobData(doc);
    expect(data).toEqual({ generationId: doc._id.toHexString(), run: 2, rev: 4 });
    expect(GenerationJobData.parse(data)).toEqual(data);
  });

  // The worker moves the named revision to processing without reading it: any other state would be overwritten.
  test.each(['processing', 'completed', 'failed', 'canceled'] as const)(
    'when the record is %s, then the job names no revision',
    (status) => {
      expect(generationJobData(record(status, 4))).toEqual({ generationId: expect.any(String), run: 2 });
    },
  );

  test('when the record was written before revisions, then the job names none', () => {
    expect(generationJobData(record('pending'))).toEqual({ generationId: expect.any(String), run: 2 });
  });

  test('when a job names a revision that is not a whole number of at least 0, then the payload is refused, naming it', () => {
    const result = GenerationJobData.safeParse({ generationId: new ObjectId().toHexString(), run: 1, rev: -1 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['rev']);
  });
});
