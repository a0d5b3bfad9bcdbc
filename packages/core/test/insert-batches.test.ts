import { MongoClient, ObjectId, type CommandStartedEvent, type Db } from 'mongodb';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { throughProxy } from '../../../test/support/mongo-cut';
import { TcpProxy } from '../../../test/support/tcp-proxy';
import { InsertBatches } from '../src';

interface Note {
  _id: ObjectId;
  text: string;
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
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 11000 });
    // The batch, then the refused document alone, as insertOne.
    expect(inserts).toEqual([6, 1]);
    expect((await stored(collection)).sort()).toEqual(['there first', ...others.map((doc) => doc.text)].sort());
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
    } finally {
      await away.close();
      await proxy.close();
    }
  });
});
