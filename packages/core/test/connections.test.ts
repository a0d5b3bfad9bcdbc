import { isolation, type Isolation } from '../../../test/support/isolation';
import { uriOptions } from '@imagegen/shared';
import { connectMongo } from '../src';

describe('a MongoDB connection’s pool', () => {
  let env: Isolation;

  beforeAll(() => {
    env = isolation();
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  const poolOf = async (uri: string) => {
    const { client } = await connectMongo(uri);
    try {
      return client.options.maxPoolSize;
    } finally {
      await client.close();
    }
  };

  const withPool = (uri: string, size: string | null) => {
    const url = new URL(uri);
    if (size === null) url.searchParams.delete('maxPoolSize');
    else url.searchParams.set('maxPoolSize', size);
    return url.toString();
  };

  test('when the URI names no maxPoolSize, then a process keeps up to 50 connections', async () => {
    expect(await poolOf(withPool(env.mongoUri, null))).toBe(50);
  });

  // On FerretDB over PostgreSQL the processes together must stay below its own pool (docs/operations.md).
  test('when the URI names a maxPoolSize, then that is the pool', async () => {
    expect(await poolOf(withPool(env.mongoUri, '3'))).toBe(3);
  });

  // The option is read from the query only: a password may hold `&` and `=` unescaped.
  test('when only the password looks like a maxPoolSize, then the URI names none', () => {
    expect(uriOptions('mongodb://app:a&maxPoolSize=3@db.example:27017/imagegen').has('maxpoolsize')).toBe(false);
    expect(uriOptions('mongodb://app:pw@db.example:27017/imagegen?MaxPoolSize=3').get('maxpoolsize')).toBe('3');
  });
});
