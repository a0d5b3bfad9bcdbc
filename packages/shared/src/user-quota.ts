import { z } from 'zod';

/** The largest image limit an admin may set for one user. */
export const MAX_IMAGE_QUOTA = 10_000_000;

/** One user's image limit of a period; null: the deployment's default (`QUOTA_IMAGES_PER_DAY` / `_MONTH`). */
const QuotaOverride = z.int().min(0).max(MAX_IMAGE_QUOTA).nullable();

/** A user's overrides of the image quotas, as an admin set them. */
export const UserQuota = z.object({
  images_per_day: QuotaOverride,
  images_per_month: QuotaOverride,
});
export type UserQuota = z.infer<typeof UserQuota>;

/**
 * `quota` of `PATCH /api/admin/users/:id`: each field given is set (a number of images per UTC day
 * or month, or null for the default again); a field left out stays as it was.
 */
export const UserQuotaUpdate = z
  .strictObject({
    images_per_day: QuotaOverride.optional(),
    images_per_month: QuotaOverride.optional(),
  })
  .refine((quota) => quota.images_per_day !== undefined || quota.images_per_month !== undefined, {
    message: 'must name images_per_day or images_per_month',
    // Not on top of an unknown field's refusal, which says what is wrong.
    when: ({ issues }) => issues.length === 0,
  });
export type UserQuotaUpdate = z.infer<typeof UserQuotaUpdate>;
