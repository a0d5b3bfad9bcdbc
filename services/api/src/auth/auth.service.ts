import type { AuthResult, LoginRequest, PublicUser, RegisterRequest, UserDocument } from '@imagegen/shared';
import { ConflictError, UnauthorizedError, ValidationError } from '../errors';
import type { UserRepository } from '../users/user.repository';
import { decoyHash, hashPassword, verifyPassword } from './password';
import type { LoginThrottle } from './login-throttle';
import type { TokenService } from './token.service';

/** One message for every failed login, so the answer never tells which part was wrong. */
const BAD_CREDENTIALS = 'Invalid email or password';

export interface AuthServiceOptions {
  autoRegister: boolean;
  throttle: LoginThrottle;
}

export class AuthService {
  constructor(
    private readonly users: UserRepository,
    private readonly tokens: TokenService,
    private readonly options: AuthServiceOptions,
  ) {}

  async register(input: RegisterRequest): Promise<AuthResult> {
    const user = await this.users.insert({
      email: input.email,
      name: input.name,
      password_hash: await hashPassword(input.password),
      role: 'user',
    });
    if (!user) throw new ConflictError('An account with this email already exists');
    return this.issue(user);
  }

  /** The seed's login: an unknown email with a name creates the account when auto-registration is on. */
  async login(input: LoginRequest, ip: string): Promise<{ result: AuthResult; created: boolean }> {
    // Checked before the lookup, so the answer is the same whether or not the account exists
    // (no account can have such a password: registration refuses it).
    if (this.options.autoRegister && input.name && input.password.length < 8) {
      throw new ValidationError([{ field: 'password', message: 'must be at least 8 characters' }]);
    }
    const user = await this.users.findByEmail(input.email);
    if (!user && this.options.autoRegister && input.name) {
      const created = await this.users.insert({
        email: input.email,
        name: input.name,
        password_hash: await hashPassword(input.password),
        role: 'user',
      });
      // A concurrent login may have created the same account first: fall back to checking the password.
      if (created) return { result: this.issue(created), created: true };
      return this.login({ ...input, name: undefined }, ip);
    }
    return {
      result: this.issue(await this.throttled(input.email, ip, () => this.checked(user, input.password))),
      created: false,
    };
  }

  /** The account of this email and password, or the same generic 401 whichever was wrong. */
  async verify(email: string, password: string, ip: string): Promise<UserDocument> {
    return this.throttled(email, ip, async () => this.checked(await this.users.findByEmail(email), password));
  }

  /** A password check under the sign-in throttle: refused when spent, counted when wrong. */
  private async throttled(email: string, ip: string, check: () => Promise<UserDocument>): Promise<UserDocument> {
    const { throttle } = this.options;
    await throttle.check(email, ip);
    try {
      const user = await check();
      await throttle.succeeded(email);
      return user;
    } catch (err) {
      if (err instanceof UnauthorizedError) await throttle.failed(email, ip);
      throw err;
    }
  }

  /** An unknown account costs the same hash as a known one, so timing does not tell them apart. */
  private async checked(user: UserDocument | null, password: string): Promise<UserDocument> {
    const valid = await verifyPassword(password, user?.password_hash ?? (await decoyHash()));
    if (!user || !valid) throw new UnauthorizedError(BAD_CREDENTIALS);
    return user;
  }

  private issue(user: UserDocument): AuthResult {
    return {
      token: this.tokens.sign(user._id.toHexString(), user.role),
      token_type: 'Bearer',
      expires_in: this.tokens.ttlSeconds,
      user: toPublicUser(user),
    };
  }
}

export function toPublicUser(user: UserDocument): PublicUser {
  return {
    id: user._id.toHexString(),
    email: user.email,
    name: user.name,
    role: user.role,
    created_at: user.created_at.toISOString(),
  };
}
