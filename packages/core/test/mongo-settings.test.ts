import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ObjectId, type CommandStartedEvent, type Document } from 'mongodb';
import { CommonEnv, ConfigError, mongoWriteConcern, parseEnv } from '@imagegen/shared';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { connectMongo, INDEXES, type Mongo, type MongoOptions } from '../src';

/** The settings as a service reads them, and the `w` its connection would write with. */
function settingsOf(env: Record<string, string>) {
  const config = parseEnv(CommonEnv, env);
  return { w: mongoWriteConcern(config), readPreference: config.MONGODB_READ_PREFERENCE };
}

/** The problems of the ConfigError that parsing `env` throws. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    parseEnv(CommonEnv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('MongoDB write concern and read preference settings', () => {
  test.each([
    { kind: 'one server', uri: 'mongodb://db.example:27017/imagegen', w: 1 },
    { kind: 'a replica set', uri: 'mongodb://a.example:27017,b.example:27017/imagegen?replicaSet=rs0', w: 'majority' },
    { kind: 'replicaSet= in any case', uri: 'mongodb://a.example:27017/imagegen?replicaset=rs0', w: 'majority' },
    { kind: 'an SRV record', uri: 'mongodb+srv://u:pw@cluster0.example.net/imagegen?retryWrites=true', w: 'majority' },
    {
      kind: 'several hosts (mongos routers)',
      uri: 'mongodb://r1.example:27017,r2.example:27017/imagegen',
      w: 'majority',
    },
  ])('when MONGODB_URI names $kind and MONGODB_WRITE_CONCERN is unset, then writes wait for w=$w', ({ uri, w }) => {
    expect(settingsOf({ MONGODB_URI: uri })).toEqual({ w, readPreference: 'primary' });
  });

  test('when MONGODB_WRITE_CONCERN is set, then it wins over the default and over a w= in the URI; unset, the URI’s w= stands', () => {
    const replicaSet = 'mongodb://a.example:27017/imagegen?replicaSet=rs0';
    expect(settingsOf({ MONGODB_URI: replicaSet, MONGODB_WRITE_CONCERN: '1' }).w).toBe(1);
    expect(settingsOf({ MONGODB_URI: 'mongodb://db.example/x', MONGODB_WRITE_CONCERN: 'majority' }).w).toBe('majority');
    expect(settingsOf({ MONGODB_URI: `${replicaSet}&w=2`, MONGODB_WRITE_CONCERN: '3' }).w).toBe(3);
    expect(settingsOf({ MONGODB_URI: `${replicaSet}&w=2` }).w).toBe(2);
    expect(settingsOf({ MONGODB_URI: 'mongodb://db.example/x?W=majority' }).w).toBe('majority');
    // A tag set's name, which only the URI can give, passes through.
    expect(settingsOf({ MONGODB_URI: `${replicaSet}&w=twoDataCenters` }).w).toBe('twoDataCenters');
    // Empty counts as unset, as for every setting (compose passes `NAME=`).
    expect(settingsOf({ MONGODB_URI: replicaSet, MONGODB_WRITE_CONCERN: '' }).w).toBe('majority');
  });

  test.each(['0', '-1', '1.5', 'all', 'Majority', '51'])(
    'when MONGODB_WRITE_CONCERN is %p, then a ConfigError names MONGODB_WRITE_CONCERN',
    (value) => {
      expect(problemsOf({ MONGODB_WRITE_CONCERN: value })).toEqual([expect.stringMatching(/^MONGODB_WRITE_CONCERN: /)]);
    },
  );

  test('when MONGODB_URI itself asks for w=0, then a ConfigError names MONGODB_URI', () => {
    expect(problemsOf({ MONGODB_URI: 'mongodb://db.example/imagegen?w=0' })).toEqual([
      expect.stringMatching(/^MONGODB_URI: w=0 leaves writes unacknowledged/),
    ]);
  });

  test('when MONGODB_READ_PREFERENCE names a mode, then the list reads take it; an unknown one is refused by name', () => {
    for (const mode of ['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest']) {
      expect(settingsOf({ MONGODB_READ_PREFERENCE: mode }).readPreference).toBe(mode);
    }
    expect(problemsOf({ MONGODB_READ_PREFERENCE: 'secondary_preferred' })).toEqual([
      expect.stringMatching(/^MONGODB_READ_PREFERENCE: /),
    ]);
  });

  test('when MONGODB_URI sets a read preference other than primary, then a ConfigError names MONGODB_URI', () => {
    const uri = 'mongodb://a.example:27017/imagegen?replicaSet=rs0';
    expect(problemsOf({ MONGODB_URI: `${uri}&readPreference=secondary` })).toEqual([
      expect.stringMatching(/^MONGODB_URI: readPreference=secondary would move every read/),
    ]);
    expect(settingsOf({ MONGODB_URI: `${uri}&readPreference=primary` }).w).toBe('majority');
  });
});

describe('connectMongo on a real MongoDB-wire server', () => {
  let iso: Isolation;
  const open: Mongo[] = [];

  beforeAll(() => {
    iso = isolation();
  });

  afterAll(async () => {
    await Promise.all(open.map((mongo) => mongo.client.close()));
    await iso?.cleanup();
  });

  /** `iso`'s URI with these options added to its query. */
  function uriWith(options: Record<string, string>): string {
    const url = new URL(iso.mongoUri);
    for (const [name, value] of Object.entries(options)) url.searchParams.set(name, value);
    return url.toString();
  }

  /** A connection made by connectMongo whose commands are watched (`monitorCommands` is a URI option too). */
  async function watched(uriOptions: Record<string, string>, options?: MongoOptions) {
    const mongo = await connectMongo(uriWith({ monitorCommands: 'true', ...uriOptions }), options);
    open.push(mongo);
    const started: CommandStartedEvent[] = [];
    mongo.client.on('commandStarted', (event) => started.push(event));
    return { mongo, started };
  }

  /** The write concern the `insert` command carried, as the driver sent it to the server. */
  async function insertWriteConcern(uriOptions: Record<string, string>, options?: MongoOptions) {
    const { mongo, started } = await watched(uriOptions, options);
    const _id = new ObjectId();
    await mongo.db.collection('write_concern_probe').insertOne({ _id });
    // The server took the write as well: it is there to read.
    expect(await mongo.db.collection('write_concern_probe').findOne({ _id })).toEqual({ _id });
    const insert = started.find((event) => event.commandName === 'insert');
    return (insert?.command as Document | undefined)?.writeConcern as Document | undefined;
  }

  test('when the URI names one server and nothing is set, then an insert is sent with w: 1', async () => {
    expect(await insertWriteConcern({})).toEqual({ w: 1 });
  });

  test('when MONGODB_WRITE_CONCERN is majority, then an insert is sent with w: majority, and the server takes it', async () => {
    expect(await insertWriteConcern({}, { writeConcern: 'majority' })).toEqual({ w: 'majority' });
  });

  test('when the URI says w=majority, then it stands unless MONGODB_WRITE_CONCERN is set, which wins', async () => {
    expect(await insertWriteConcern({ w: 'majority' })).toEqual({ w: 'majority' });
    expect(await insertWriteConcern({ w: 'majority' }, { writeConcern: 1 })).toEqual({ w: 1 });
  });

  test('when connected, then reads default to the primary and retryable writes stay on unless the URI turns them off', async () => {
    const { mongo } = await watched({});
    expect(mongo.client.readPreference.mode).toBe('primary');
    expect(mongo.db.readPreference.mode).toBe('primary');
    expect(mongo.client.options.retryWrites).toBe(true);
    const { mongo: off } = await watched({ retryWrites: 'false' });
    expect(off.client.options.retryWrites).toBe(false);
  });

  test('when connectMongo returns, then every declared index exists with its keys and options', async () => {
    const { mongo } = await watched({});
    for (const declared of INDEXES) {
      const existing = await mongo.db.collection(declared.collection).indexes();
      const found = existing.find((index) => index.name === declared.options.name);
      expect({ collection: declared.collection, name: declared.options.name, key: found?.key }).toEqual({
        collection: declared.collection,
        name: declared.options.name,
        key: declared.key,
      });
      // Key order matters to a compound index: `toEqual` alone would not see it.
      expect(Object.keys(found!.key)).toEqual(Object.keys(declared.key));
      expect(!!found!.unique).toBe(!!declared.options.unique);
    }
  });
});

describe('index declarations', () => {
  const ROOT = resolve(__dirname, '../../..');
  const DECLARATIONS = 'packages/core/src/indexes.ts';

  function sourceFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourceFiles(path);
      return /\.[cm]?[jt]s$/.test(entry.name) ? [path] : [];
    });
  }

  test('when a source file of a service or package creates an index, then it is the one declaration file', () => {
    const sources = ['services', 'packages'].flatMap((area) =>
      readdirSync(join(ROOT, area)).flatMap((name) => {
        const src = join(ROOT, area, name, 'src');
        try {
          return sourceFiles(src);
        } catch {
          return [];
        }
      }),
    );
    expect(sources.map((file) => relative(ROOT, file))).toContain(DECLARATIONS);
    const creating = sources
      .filter((file) => /\bcreateIndex(es)?\b/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file));
    expect(creating).toEqual([DECLARATIONS]);
  });
});
