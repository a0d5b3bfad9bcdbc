import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { QUEUES, generationJobId, type ApiFailure, type ApiSuccess, type AuthResult } from '@imagegen/shared';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import { ApiClient, dataOf } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { stateAfterActive } from '../support/lifecycle';
import { newUser, startSystem, type System } from '../support/system';

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' };
/** What `newUser` signs up with. */
const PASSWORD = 'password123';

describe('deleting generations and accounts, through the API with a worker running', () => {
  let system: System;
  let alice: ApiClient;
  let bob: ApiClient;
  let admin: ApiClient;
  let mongo: Mongo;
  let redis: Redis;
  let generationQueue: Queue;

  beforeAll(async () => {
    system = await startSystem({
      apiEnv: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password },
      // A held answer is not a timeout.
      workerEnv: { HF_TIMEOUT_MS: '60000', HF_MAX_WAIT_MS: '60000' },
    });
    alice = await newUser(system, 'alice');
    bob = await newUser(system, 'bob');
    admin = system.client();
    await admin.login(ADMIN.email, ADMIN.password);
    mongo = await connectMongo(system.env.mongoUri);
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    generationQueue = new Queue(QUEUES.generations, { connection: redis, prefix: system.env.queuePrefix });
  });

  afterAll(async () => {
    await generationQueue?.close();
    redis?.disconnect();
    await mongo?.client.close();
    await system?.stop();
  });

  const remove = (client: ApiClient, id: string) => client.request('DELETE', `/api/generations/${id}`);
  const record = (id: string) => mongo.db.collection(COLLECTIONS.generations).findOne({ _id: new ObjectId(id) });
  const storedImage = (id: string) => mongo.db.collection(COLLECTIONS.images).findOne({ _id: new ObjectId(id) });

  async function completed(client: ApiClient, prompt: string) {
    const created = await client.create({ prompt, model: 'test/deletion' });
    const done = await client.waitFor(created.id);
    expect(done.status).toBe('completed');
    return done;
  }

  test('when the owner deletes a completed generation, then it answers 204 with no body, and the generation, its image and its place in the list are gone; a second delete answers 404', async () => {
    const generation = await completed(alice, 'a picture to regret');
    expect((await alice.image(generation.id)).status).toBe(200);

    const reply = await remove(alice, generation.id);
    expect(reply.status).toBe(204);
    expect(reply.body).toBe('');

    expect((await alice.get(generation.id)).status).toBe(404);
    expect((await alice.image(generation.id)).status).toBe(404);
    expect((await alice.list()).items.map((item) => item.id)).not.toContain(generation.id);
    expect(await record(generation.id)).toBeNull();
    expect(await storedImage(generation.id)).toBeNull();
    expect((await remove(alice, generation.id)).status).toBe(404);
  });

  test("when another user deletes a user's generation, then it answers 404 as for an unknown id, and the generation and its image stay", async () => {
    const generation = await completed(alice, "alice's keeper");
    const before = await alice.image(generation.id);

    const asBob = await remove(bob, generation.id);
    const unknown = await remove(bob, new ObjectId().toHexString());
    expect(asBob.status).toBe(404);
    expect(asBob.body).toEqual(unknown.body);

    expect(dataOf(await alice.get(generation.id))).toMatchObject({ id: generation.id, status: 'completed' });
    const after = await alice.image(generation.id);
    expect(after.status).toBe(200);
    expect(after.bytes.equals(before.bytes)).toBe(true);
  });

  test('when a generation is deleted while the provider is still drawing it, then it answers 204, its job stops, and once the provider answers no image is stored and the record is gone', async () => {
    const model = 'test/deleted-mid-way';
    let release!: () => void;
    system.emulator.always(model, hf.pngWhen(new Promise<void>((resolve) => (release = resolve))));
    const created = await alice.create({ prompt: 'drawn for nobody', model });
    await system.emulator.waitForRequests(model, 1);
    expect((await alice.waitFor(created.id, ['processing'])).status).toBe('processing');

    expect((await remove(alice, created.id)).status).toBe(204);
    expect((await alice.get(created.id)).status).toBe(404);
    // The job ends without the provider's answer: the worker was told to abort it.
    expect(['completed', null]).toContain(
      await stateAfterActive(
        async () => (await generationQueue.getJob(generationJobId(created.id, 1)))?.getState() ?? null,
      ),
    );

    release();
    // A generation after it runs to its end on the same worker: by then the late answer, had it
    // come, would have been handled.
    await completed(alice, 'the next one');
    expect(await storedImage(created.id)).toBeNull();
    expect(await record(created.id)).toBeNull();
    expect(system.emulator.requestsFor(model)).toHaveLength(1);
  });

  test('when a user deletes their account, then a wrong password is refused naming the field; with the right one it answers 204, everything of theirs goes and the old token is refused', async () => {
    const carol = await newUser(system, 'carol');
    const generation = await completed(carol, "carol's picture");

    const wrong = await carol.request<ApiFailure>('DELETE', '/api/users/me', { password: 'not my password' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errors?.map((error) => error.field)).toEqual(['password']);
    expect((await carol.get(generation.id)).status).toBe(200);

    const reply = await carol.request('DELETE', '/api/users/me', { password: PASSWORD });
    expect(reply.status).toBe(204);
    expect(reply.body).toBe('');

    expect((await carol.request('GET', '/api/generations')).status).toBe(401);
    expect(await record(generation.id)).toBeNull();
    expect(await storedImage(generation.id)).toBeNull();
    expect(await mongo.db.collection(COLLECTIONS.users).findOne({ _id: new ObjectId(generation.user_id) })).toBeNull();
  });

  test('when the email of a deleted account signs in, then it is refused as an unknown one, and with a name it makes a new, empty account', async () => {
    const dan = await newUser(system, 'dan');
    const generation = await completed(dan, "dan's picture");
    const email = (await mongo.db.collection(COLLECTIONS.users).findOne({ _id: new ObjectId(generation.user_id) }))!
      .email as string;
    expect((await dan.request('DELETE', '/api/users/me', { password: PASSWORD })).status).toBe(204);

    const anonymous = system.client();
    const known = await anonymous.request('POST', '/api/auth/login', { email, password: PASSWORD });
    const unknown = await anonymous.request('POST', '/api/auth/login', {
      email: 'nobody-ever@example.com',
      password: PASSWORD,
    });
    expect(known.status).toBe(401);
    expect(known.body).toEqual(unknown.body);

    const again = await anonymous.request<ApiSuccess<AuthResult>>('POST', '/api/auth/login', {
      email,
      password: PASSWORD,
      name: 'Dan Again',
    });
    expect(again.status).toBe(200);
    expect(again.body.data.user.id).not.toBe(generation.user_id);
    anonymous.token = again.body.data.token;
    expect((await anonymous.list()).items).toEqual([]);
  });

  test('when an admin deletes a user, then it answers 204 and the user and their generations are gone; again 404; a user may not', async () => {
    const erin = await newUser(system, 'erin');
    const generation = await completed(erin, "erin's picture");
    const userId = generation.user_id;

    expect((await bob.request('DELETE', `/api/admin/users/${userId}`)).status).toBe(403);
    expect((await admin.request('DELETE', `/api/admin/users/${userId}`)).status).toBe(204);

    expect((await erin.request('GET', '/api/generations')).status).toBe(401);
    expect(await record(generation.id)).toBeNull();
    expect(await storedImage(generation.id)).toBeNull();
    expect((await admin.request('DELETE', `/api/admin/users/${userId}`)).status).toBe(404);
  });
});
