import type { AuthResult, LoginRequest, PublicUser, RegisterRequest } from '@imagegen/shared';
import type { UserDocument } from '@imagegen/core';
import { ConflictError, UnauthorizedError, ValidationError } from '../errors';
import type { UserRepository } from '../users/user.repository';
import type { HashQueue } from './hash-queue';
import type { Passwords } from './password';
import type { LoginThrottle } from './login-throttle';
import type { RegisterThrottle } from './register-throttle';
import type { TokenService } from './token.service';

/** One message for every failed login, so the answer never tells which part was wrong. */
const BAD_CREDENTIALS = 'Invalid email or password';
const EMAIL_TAKEN = 'An account with this email already exists';

export interface AuthServiceOptions {
  autoRegister: boolean;
  throttle: LoginThrottle;
  registrations: RegisterThrottle;
  /** Every password hashed or checked here goes through it. */
  hashes: HashQueue;
  passwords: Passwords;
}

export class AuthService {
  constructor(
    private readonly users: UserRepository,
    private readonly tokens: TokenService,
    private readonly options: AuthServiceOptions,
  ) {}

  async register(input: RegisterRequest, ip: string | undefined): Promise<AuthResult> {
    // A taken email is answered before any hashing: the 409 tells as much anyway, and costs nothing.
    if (await this.users.findByEmail(input.email)) throw new ConflictError(EMAIL_TAKEN);
    const user = await this.create(input, ip);
    if (!user) throw new ConflictError(EMAIL_TAKEN);
    return this.issue(user);
  }

  /**
   * Login as the original API defined it, which its clients still call: an unknown email with a name
   * creates the account when auto-registration is on.
   */
  async login(input: LoginRequest, ip: string | undefined): Promise<{ result: AuthResult; created: boolean }> {
    // Checked before the lookup, so the answer is the same whether or not the account exists
    // (no account can have such a password: registration refuses it).
    if (this.options.autoRegister && input.name && input.password.length < 8) {
      throw new ValidationError([{ field: 'password', message: 'must be at least 8 characters' }]);
    }
    const user = await this.users.findByEmail(input.email);
    if (!user && this.options.autoRegister && input.name) {
      const created = await this.create({ ...input, name: input.name }, ip);
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
  async verify(email: string, password: string, ip: string | undefined): Promise<UserDocument> {
    return this.throttled(email, ip, async () => this.checked(await this.users.findByEmail(email), password));
  }

  /**
   * A new account, counted against the address's registrations before its password is hashed;
   * null when the email was taken meanwhile (the unique index decides).
   */
  private async create(input: RegisterRequest, ip: string | undefined): Promise<UserDocument | null> {
    const { registrations, hashes, passwords } = this.options;
    await registrations.take(ip);
    let passwordHash: string;
    try {
      passwordHash = await hashes.run(() => passwords.hash(input.password));
    } catch (err) {
      await registrations.notCreated(ip).catch(() => undefined);
      throw err;
    }
    return this.users.insert({ email: input.email, name: input.name, password_hash: passwordHash, role: 'user' });
  }

  /**
   * A password check under the sign-in throttle: counted before it is made (refused when spent),
   * kept when wrong, cleared when right, and given back when it could not be made.
   */
  private async throttled(
    email: string,
    ip: string | undefined,
    check: () => Promise<UserDocument>,
  ): Promise<UserDocument> {
    const { throttle } = this.options;
    await throttle.take(email, ip);
    let user: UserDocument;
    try {
      user = await check();
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) await throttle.notChecked(email, ip).catch(() => undefined);
      throw err;
    }
    await throttle.succeeded(email, ip);
    return user;
  }

  /** An unknown account costs the same hash as a known one, so timing does not tell them apart. */
  private async checked(user: UserDocument | null, password: string): Promise<UserDocument> {
    const { hashes, passwords } = this.options;
    const stored = user?.password_hash ?? (await passwords.decoyHash());
    const valid = await hashes.run(() => passwords.verify(password, stored));
    if (!user || !valid) throw new UnauthorizedError(BAD_CREDENTIALS);
    if (passwords.outdated(stored)) await this.rehash(user, password);
    return user;
  }

  /**
   * The password hashed again at the configured cost. The sign-in succeeds either way: a hash that
   * cannot be remade now (the hashing queue is full, MongoDB is away) is remade at a later one.
   */
  private async rehash(user: UserDocument, password: string): Promise<void> {
    const { hashes, passwords } = this.options;
    const next = await hashes.run(() => passwords.hash(password)).catch(() => null);
    if (next) await this.users.rehash(user._id, user.password_hash, next).catch(() => false);
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
