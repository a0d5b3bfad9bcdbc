import type { Logger } from '@imagegen/shared';
import { hashPassword } from '../auth/password';
import type { UserRepository } from '../users/user.repository';

/**
 * Makes ADMIN_EMAIL an admin with ADMIN_PASSWORD at start, creating the account if need be, so a
 * fresh deployment has someone who can open the dashboard. The password is never logged.
 */
export async function ensureAdmin(
  users: UserRepository,
  credentials: { email?: string; password?: string },
  logger: Logger,
): Promise<void> {
  if (!credentials.email || !credentials.password) return;
  const admin = await users.upsertAdmin(credentials.email, await hashPassword(credentials.password));
  logger.info({ email: admin.email, userId: admin._id.toHexString() }, 'admin account ready');
}
