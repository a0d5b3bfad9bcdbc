import { MongoBulkWriteError, MongoClient, ObjectId, type CommandStartedEvent, type Db } from 'mongodb';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { throughProxy } from '../../../test/support/mongo-cut';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { InsertBatches, isMongoOutage } from '../src';

interface Note {
  _id: ObjectId;
  text: string;
  padding?: string;
}

const note = (text: string, _id = new ObjectId()): Note => ({ _id, text });

describe('InsertBatches on a real MongoDB-wire server', () => {
  let env: Isolation;
  let client: MongoClient;
  let db: Db;
  /** The `insert` commands the client sent, each with how many documents it carried. */
  let inserts: number[];

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri, { monitorCommands: true }).connect();
    client.on('commandStarted', (event: CommandStartedEvent) => {
      if (event.commandName === 'insert') inserts.push((event.command.documents as unknown[]).length);
    });
    db = client.db();
  });

  beforeEach(() => {
    inserts = [];
  });

  afterAll(async () => {
    await client?.close();
    await env?.cleanup();
  });

  const notes = () => db.collection<Note>(`notes_${new ObjectId().toHexString()}`);
  const stored = async (collection: ReturnType<typeof notes>) =>
    (await collection.find().sort({ _id: 1 }).toArray()).map((doc) => doc.text);

  test('when twenty inserts are asked for in one turn, then they go in one command, and each caller learns its document is stored', async () => {
    const collection = notes();
    const batches = new InsertBatches(collection);
    const docs = Array.from({ length: 20 }, (_, i) => note(`note ${i}`));
    await Promise.all(docs.map((doc) => batches.insert(doc)));
    expect(inserts).toEqual([20]);
    expect((await stored(collection)).sort()).toEqual(docs.map((doc) => doc.text).sort());
  });

  test('when inserts are asked for one after the other, then each goes at once, alone', async () => {
    const collection = notes();
    const batches = new InsertBatches(collection);
    for (const text of ['first', 'second', 'third']) await batches.insert(note(text));
    expect(inserts).toEqual([1, 1, 1]);
    expect(await stored(collection)).toEqual(['first', 'second', 'third']);
  });

  test('when the server refuses one document of a batch, then only its caller fails, with the error insertOne gives, and the others are stored', async () => {
    const collection = notes();
    const taken = note('there first');
    await collection.insertOne(taken);
    inserts = [];
    const batches = new InsertBatches(collection);
    const others = Array.from({ length: 5 }, (_, i) => note(`other ${i}`));
    const results = await Promise.allSettled([
      ...others.slice(0, 2).map((doc) => batches.insert(doc)),
      batches.insert(note('a duplicate', taken._id)),
      ...others.slice(2).map((doc) => batches.insert(doc)),
    ]);
    expect(results.map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const refused = (results[2] as PromiseRejectedResult).reason as Error;
    expect(refused).toMatchObject({ code: 11000 });
    expect(refused).not.toBeInstanceOf(MongoBulkWriteError);
    // The batch, then the refused document alone, as insertOne.
    expect(inserts).toEqual([6, 1]);
    expect((await stored(collection)).sort()).toEqual(['there first', ...others.map((doc) => doc.text)].sort());
  });

  test('when a turn’s documents pass 8 MiB, then they go as several commands, each on its own: a refusal in one fails only its caller', async () => {
    const collection = notes();
    const taken = note('there first');
    await collection.insertOne(taken);
    inserts = [];
    const batches = new InsertBatches(collection);
    // 3 MiB each: two fit in a command, a third would not.
    const big = (text: string, _id?: ObjectId) => ({ ...note(text, _id), padding: 'x'.repeat(3 * 1024 * 1024) });
    const docs = [0, 1, 2, 3].map((i) => big(`big ${i}`));
    const results = await Promise.allSettled([
      ...docs.slice(0, 3).map((doc) => batches.insert(doc)),
      batches.insert(big('a duplicate', taken._id)),
      batches.insert(docs[3]!),
    ]);
    expect(results.map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: 11000 });
    // [big 0, big 1], [big 2, the duplicate], [big 3] alone; then the duplicate alone again.
    expect(inserts.sort()).toEqual([1, 1, 2, 2]);
    expect((await stored(collection)).sort()).toEqual(['big 0', 'big 1', 'big 2', 'big 3', 'there first']);
  });

  test('when one document is larger than a command may hold, then only its caller fails, and the others of its turn are stored', async () => {
    const collection = notes();
    const batches = new InsertBatches(collection);
    const results = await Promise.allSettled([
      batches.insert(note('small')),
      batches.insert({ ...note('too large'), padding: 'x'.repeat(17 * 1024 * 1024) }),
      batches.insert(note('small too')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await stored(collection)).sort()).toEqual(['small', 'small too']);
  });

  test('when the whole command fails (the server away), then every caller of the batch gets its error', async () => {
    const direct = new URL(env.mongoUri);
    const proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 27017) });
    const away = await new MongoClient(throughProxy(env.mongoUri, proxy), { serverSelectionTimeoutMS: 500 }).connect();
    try {
      const batches = new InsertBatches(away.db().collection<Note>('notes_away'));
      await proxy.cut();
      const results = await Promise.allSettled([1, 2, 3].map((i) => batches.insert(note(`note ${i}`))));
      expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
      const [first, ...rest] = results.map((result) => (result as PromiseRejectedResult).reason as Error);
      for (const reason of rest) expect(reason).toBe(first);
      // The driver's own error, as insertOne would have thrown, not the batch's wrapper: callers
      // tell an outage (a 503, a job delayed) by it.
      expect(first).not.toBeInstanceOf(MongoBulkWriteError);
      expect(isMongoOutage(first)).toBe(true);
    } finally {
      await away.close();
      await proxy.close();
    }
  });
});
