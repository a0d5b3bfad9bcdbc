import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const BLOCK_SIZE = 8;
const KEY_LENGTH = 32;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** `scrypt$N$r$p$salt$hash` taken apart; null for anything else. */
function parse(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | null {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return null;
  return {
    params: { N: Number(n), r: Number(r), p: Number(p) },
    salt: Buffer.from(salt, 'base64'),
    hash: Buffer.from(hash, 'base64'),
  };
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Password hashes at one cost (PASSWORD_HASH_COST: N = 2^cost; each step doubles a hash's time and
 * memory). A hash is `scrypt$N$r$p$salt$hash`: its parameters travel with it, so hashes made at
 * another cost (before the setting changed) are still checked with their own.
 */
export class Passwords {
  private readonly params: ScryptParams;
  private decoy: Promise<string> | undefined;

  constructor(cost: number) {
    this.params = { N: 2 ** cost, r: BLOCK_SIZE, p: 1 };
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await derive(password, salt, this.params);
    const { N, r, p } = this.params;
    return ['scrypt', N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
  }

  /**
   * Whether `stored` was made at another cost (or with other parameters) than this one's: the
   * next successful sign-in remakes it, so that raising the cost reaches every account in use,
   * and a known email's check takes as long as an unknown one's (checked against the decoy).
   */
  outdated(stored: string): boolean {
    const made = parse(stored)?.params;
    const { N, r, p } = this.params;
    return made?.N !== N || made.r !== r || made.p !== p;
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = parse(stored);
    if (!parsed) return false;
    const key = await derive(password, parsed.salt, parsed.params);
    return key.length === parsed.hash.length && timingSafeEqual(key, parsed.hash);
  }

  /**
   * A hash of a random password, made once, to verify against when the email is unknown: the
   * answer then takes as long as for a known email, so timing does not reveal accounts.
   */
  decoyHash(): Promise<string> {
    this.decoy ??= this.hash(randomBytes(16).toString('hex'));
    return this.decoy;
  }
}
