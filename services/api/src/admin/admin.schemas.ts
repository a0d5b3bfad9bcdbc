import { z } from 'zod';
import { ListGenerationsQuery } from '@imagegen/shared';

/** Query of `GET /api/admin/generations`: the owner's list query, across users, by `user` (id or email). */
export const AdminGenerationsQuery = ListGenerationsQuery.extend({
  user: z.string().trim().min(1).max(254).optional(),
});
export type AdminGenerationsQuery = z.infer<typeof AdminGenerationsQuery>;
