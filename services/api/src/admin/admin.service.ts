import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import {
  ObjectIdString,
  type AdminUser,
  type GenerationPage,
  type QueueOverview,
  type UpdateUserRequest,
} from '@imagegen/shared';
import { toPublicUser } from '../auth/auth.service';
import { ConflictError, NotFoundError } from '../errors';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';
import type { GenerationMapper } from '../generations/generation.mapper';
import { JOB_STATES } from '../infra/job-states';
import type { AccountDeletionService } from '../users/account-deletion.service';
import { quotaOf, type UserRepository } from '../users/user.repository';
import type { AdminGenerationsQuery } from './admin.schemas';

export class AdminService {
  constructor(
    private readonly queues: Queue[],
    private readonly generations: GenerationRepository,
    private readonly retries: GenerationRetryService,
    private readonly users: UserRepository,
    private readonly views: GenerationMapper,
    private readonly accounts: AccountDeletionService,
  ) {}

  /** Counts per state, workers connected and paused or not, for every queue of the system. */
  overview(): Promise<QueueOverview[]> {
    return Promise.all(
      this.queues.map(async (queue) => {
        const [counts, workers, paused] = await Promise.all([
          queue.getJobCounts(...JOB_STATES),
          queue.getWorkersCount(),
          queue.isPaused(),
        ]);
        return { name: queue.name, counts, workers, paused };
      }),
    );
  }

  /** Every user's generations, newest first; `user` is an id or an email. */
  async listGenerations(query: AdminGenerationsQuery): Promise<GenerationPage> {
    const userId = query.user === undefined ? undefined : await this.userIdOf(query.user);
    if (userId === null) return { items: [], next_cursor: null };
    const docs = await this.generations.listAll({
      limit: query.limit + 1,
      ...(userId && { userId }),
      ...(query.cursor && { before: new ObjectId(query.cursor) }),
      ...(query.status && { status: query.status }),
    });
    return this.views.page(docs, query.limit);
  }

  async retryGeneration(id: string) {
    const generation = await this.generations.findById(new ObjectId(id));
    if (!generation) throw new NotFoundError('Generation not found');
    return this.views.full(await this.retries.retry(generation), null);
  }

  /**
   * Grants or revokes the admin role (an admin cannot revoke their own, so one always remains), and
   * sets the user's quota overrides, as the request names them.
   */
  async updateUser(actingAdminId: string, userId: string, { role, quota }: UpdateUserRequest): Promise<AdminUser> {
    if (role !== undefined && actingAdminId === userId && role !== 'admin') {
      throw new ConflictError('An admin cannot revoke their own role; ask another admin');
    }
    const id = new ObjectId(userId);
    let user = role === undefined ? await this.users.findById(id) : await this.users.setRole(id, role);
    if (user && quota) user = await this.users.setQuota(id, quota);
    if (!user) throw new NotFoundError('User not found');
    return { ...toPublicUser(user), quota: quotaOf(user) };
  }

  /** Deletes any account and everything it owns; 404 when there is none of this id. */
  deleteUser(userId: string): Promise<void> {
    return this.accounts.deleteAny(userId);
  }

  private async userIdOf(user: string): Promise<ObjectId | null> {
    if (ObjectIdString.safeParse(user).success) return new ObjectId(user);
    return (await this.users.findByEmail(user.toLowerCase()))?._id ?? null;
  }
}
