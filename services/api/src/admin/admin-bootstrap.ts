import { ConfigError } from '@imagegen/shared';
import type { Logger } from '@imagegen/core';
import type { Passwords } from '../auth/password';
import type { UserRepository } from '../users/user.repository';

export interface AdminCredentials {
  email?: string;
  password?: string;
  /** ADMIN_PROMOTE_EXISTING: an existing non-admin account of this email may be made the admin. */
  promoteExisting: boolean;
}

/**
 * Makes ADMIN_EMAIL an admin with ADMIN_PASSWORD at start, creating the account if need be, so a
 * fresh deployment has someone who can open the dashboard. The password is never logged.
 *
 * An existing account that is not an admin may have been registered by anyone, in advance, to be
 * promoted: unless told to promote it, the start is refused (a ConfigError naming the setting).
 * Refusing rather than starting without the admin: the operator set ADMIN_EMAIL to get one, and is
 * watching when a start fails; an API that came up without it would look healthy and be found out
 * later. A promotion, or a new password, revokes every token, session and webhook secret the
 * account held; the same password at a restart revokes nothing.
 */
export async function ensureAdmin(
  users: UserRepository,
  passwords: Passwords,
  credentials: AdminCredentials,
  logger: Logger,
): Promise<void> {
  const { email, password, promoteExisting } = credentials;
  if (!email || !password) return;
  const existing = await users.findByEmail(email);
  if (!existing) {
    const created = await users.insert({
      email,
      name: 'Administrator',
      password_hash: await passwords.hash(password),
      role: 'admin',
    });
    // Another API instance starting at the same moment made it first.
    if (!created) return ensureAdmin(users, passwords, credentials, logger);
    logger.info({ email, userId: created._id.toHexString() }, 'admin account ready');
    return;
  }
  const userId = existing._id.toHexString();
  if (existing.role !== 'admin' && !promoteExisting) {
    throw new ConfigError([
      `ADMIN_EMAIL: ${email} is an existing account that is not an admin, and may have been registered by ` +
        'anyone; set ADMIN_PROMOTE_EXISTING=true to make it the admin (its tokens, sessions and webhook ' +
        'secret are revoked), or name another address',
    ]);
  }
  if (existing.role === 'admin' && (await passwords.verify(password, existing.password_hash))) {
    logger.info({ email, userId }, 'admin account ready');
    return;
  }
  const updated = await users.setAdminCredentials(existing._id, existing.password_hash, await passwords.hash(password));
  // Another instance changed it meanwhile: look again.
  if (!updated) return ensureAdmin(users, passwords, credentials, logger);
  const change = existing.role === 'admin' ? 'password changed' : 'existing account promoted';
  logger.warn(
    { email, userId },
    `admin account ready: ${change}; its earlier tokens, sessions and webhook secret are revoked`,
  );
}
