import { loadApiConfig } from '../src/config';
import { Passwords } from '../src/auth/password';
import { configErrorOf } from './config-error';

describe('password hashes at the configured cost', () => {
  test('when a password is hashed, then the hash names scrypt with N = 2^PASSWORD_HASH_COST, and only that password verifies', async () => {
    const passwords = new Passwords(10);
    const hash = await passwords.hash('correct horse');
    expect(hash).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(await passwords.verify('correct horse', hash)).toBe(true);
    expect(await passwords.verify('correct horsE', hash)).toBe(false);
    expect(await passwords.verify('correct horse', 'bcrypt$whatever')).toBe(false);
  });

  test('when the cost changes, then hashes made at the old one still verify, with their own parameters', async () => {
    const before = await new Passwords(11).hash('kept across the change');
    const after = new Passwords(10);
    expect(await after.verify('kept across the change', before)).toBe(true);
    expect((await after.hash('kept across the change')).split('$')[1]).toBe('1024');
  });

  test('when a hash was made at another cost, then it is outdated for this one, and one made here is not', async () => {
    const passwords = new Passwords(10);
    expect(passwords.outdated(await passwords.hash('pw'))).toBe(false);
    expect(passwords.outdated(await new Passwords(11).hash('pw'))).toBe(true);
  });

  test('when the email is unknown, then the decoy is one hash, made once, at the configured cost', async () => {
    const passwords = new Passwords(10);
    const first = passwords.decoyHash();
    expect(passwords.decoyHash()).toBe(first);
    expect((await first).split('$')[1]).toBe('1024');
  });
});

describe('PASSWORD_HASH_COST', () => {
  test('when it is unset, then new hashes take OWASP’s N = 2^17', () => {
    expect(loadApiConfig({}).PASSWORD_HASH_COST).toBe(17);
  });

  test('when it is not a whole number from 10 to 20, then a ConfigError names it', () => {
    for (const value of ['9', '21', '12.5', 'cheap']) {
      expect(configErrorOf({ PASSWORD_HASH_COST: value }).problems).toEqual([
        expect.stringMatching(/^PASSWORD_HASH_COST: /),
      ]);
    }
  });

  test('when it is below 17 in production, then a ConfigError names it; outside production it is taken', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) };
    expect(configErrorOf({ ...production, PASSWORD_HASH_COST: '16' }).problems).toEqual([
      expect.stringMatching(/^PASSWORD_HASH_COST: below 17 .* refused in production/),
    ]);
    expect(loadApiConfig({ ...production, PASSWORD_HASH_COST: '18' }).PASSWORD_HASH_COST).toBe(18);
    expect(loadApiConfig({ NODE_ENV: 'test', PASSWORD_HASH_COST: '10' }).PASSWORD_HASH_COST).toBe(10);
  });
});
