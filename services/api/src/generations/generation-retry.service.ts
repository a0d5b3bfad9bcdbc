import { JOBS, generationJobOptions, type GenerationDocument, type GenerationJobData } from '@imagegen/shared';
import { ConflictError } from '../errors';
import type { JobQueue } from '../infra/job-queue';
import type { GenerationRepository } from './generation.repository';

/**
 * Runs a failed generation again. The record goes back to `pending` first (its failed run kept in
 * `history`), then its job is requeued, so a worker taking the job always finds a record to work
 * on and clients polling never see a stale `failed` while the new run goes on.
 */
export class GenerationRetryService {
  constructor(
    private readonly generations: GenerationRepository,
    private readonly queue: JobQueue<GenerationJobData>,
  ) {}

  async retry(generation: GenerationDocument): Promise<GenerationDocument> {
    if (generation.status !== 'failed') {
      throw new ConflictError(`Only a failed generation can be retried; this one is ${generation.status}`);
    }
    const at = new Date();
    const reopened = await this.generations.reopen(generation, at);
    if (!reopened) throw new ConflictError('The generation changed meanwhile; fetch it and try again');
    const generationId = generation._id.toHexString();
    try {
      await this.queue.requeue(JOBS.generationCreate, { generationId }, generationJobOptions(generationId));
    } catch (err) {
      await this.generations.restore(generation, at);
      throw err;
    }
    return reopened;
  }
}
