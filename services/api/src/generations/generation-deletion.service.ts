import { ObjectId } from 'mongodb';
import type { GenerationDeleter } from '@imagegen/core';
import { NotFoundError } from '../errors';
import type { GenerationRepository } from './generation.repository';

/** `DELETE /api/generations/:id`: a user deletes a generation of theirs, canceled first if still in flight. */
export class GenerationDeletionService {
  constructor(
    private readonly generations: GenerationRepository,
    private readonly deleter: GenerationDeleter,
  ) {}

  /** Another user's generation is an unknown one: 404, and nothing of it changes. */
  async delete(userId: string, id: string): Promise<void> {
    const doc = await this.generations.findOwned(new ObjectId(id), new ObjectId(userId));
    if (!doc) throw new NotFoundError('Generation not found');
    await this.deleter.delete(doc);
  }
}
