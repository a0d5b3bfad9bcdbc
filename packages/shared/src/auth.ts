import { z } from 'zod';
import { StoredText, Text } from './text';
import { UserQuotaUpdate } from './user-quota';

const Email = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase());
const Password = Text().min(8, 'must be at least 8 characters').max(256);
const Name = StoredText().trim().min(1).max(100);

export const RegisterRequest = z.strictObject({ email: Email, password: Password, name: Name });
export type RegisterRequest = z.infer<typeof RegisterRequest>;

/**
 * The original API's login body carries `name` too, and its clients send it: with it, an unknown
 * email creates the account (when AUTH_AUTO_REGISTER is on). The password is not length-checked
 * here so that a wrong password always gets the same generic 401.
 */
export const LoginRequest = z.strictObject({
  email: Email,
  password: Text().min(1).max(256),
  name: Name.optional(),
});
export type LoginRequest = z.infer<typeof LoginRequest>;

export const UserRole = z.enum(['user', 'admin']);
export type UserRole = z.infer<typeof UserRole>;

export const PublicUser = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: UserRole,
  created_at: z.iso.datetime(),
});
export type PublicUser = z.infer<typeof PublicUser>;

export const AuthResult = z.object({
  token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.int(),
  user: PublicUser,
});
export type AuthResult = z.infer<typeof AuthResult>;

/** Claims of our access tokens. */
export const TokenClaims = z.object({
  sub: z.string(),
  role: UserRole,
  jti: z.string().optional(),
  /**
   * Set on tokens that open one thing only: `events`, the live events of the generation `gen`;
   * `admin-session`, the dashboard, from its cookie. Neither works as a bearer token.
   */
  scope: z.enum(['events', 'admin-session']).optional(),
  gen: z.string().optional(),
});
export type TokenClaims = z.infer<typeof TokenClaims>;

/**
 * Body of `DELETE /api/users/me`. The password confirms the deletion; without it, only a token
 * issued in the last five minutes does.
 */
export const DeleteAccountRequest = z.strictObject({ password: Text().min(1).max(256).optional() });
export type DeleteAccountRequest = z.infer<typeof DeleteAccountRequest>;

/** Body of `PATCH /api/admin/users/:id`: the role, the quota overrides, or both. */
export const UpdateUserRequest = z
  .strictObject({ role: UserRole.optional(), quota: UserQuotaUpdate.optional() })
  .refine((body) => body.role !== undefined || body.quota !== undefined, {
    // Named as `role` was when it was the one field.
    path: ['role'],
    message: 'must name role or quota',
    when: ({ issues }) => issues.length === 0,
  });
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;
