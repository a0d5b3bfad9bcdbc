import { Collection, ObjectId, type FindCursor } from 'mongodb';
import type { ApiSuccess, Generation, GenerationPage } from '@imagegen/shared';
import { COLLECTIONS, newGeneration, type GenerationDocument } from '@imagegen/core';
import { SETTINGS } from '../../../test/support/generation-settings';
import type { ApiClient } from '../../../test/support/api-client';
import { startHarness, type Harness } from './api-harness';
import { ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, signIn } from './admin-support';

/**
 * The read preference of every read of `generations` the API makes while `act` runs, as the
 * driver's cursor has it (`findOne` reads through `find` too). The API runs in this process, so
 * its driver is this one: the calls go through unchanged, only watched. A server that is not part
 * of a replica set, like the test server, is never sent `$readPreference`: the cursor's own is what
 * the driver picks the server by.
 */
async function generationReads(act: () => Promise<unknown>): Promise<string[]> {
  const modes: string[] = [];
  const find = Collection.prototype.find;
  const watch = jest.spyOn(Collection.prototype, 'find').mockImplementation(function (
    this: Collection,
    ...args: Parameters<Collection['find']>
  ): FindCursor {
    const cursor = find.apply(this, args);
    if (this.collectionName === COLLECTIONS.generations) modes.push(cursor.readPreference.mode);
    return cursor;
  });
  try {
    await act();
  } finally {
    watch.mockRestore();
  }
  return modes;
}

describe('MONGODB_READ_PREFERENCE on the list reads, and only on them', () => {
  let h: Harness;
  let user: ApiClient;
  let admin: ApiClient;
  const ids: string[] = [];

  beforeAll(async () => {
    h = await startHarness({ ...ADMIN_ENV, MONGODB_READ_PREFERENCE: 'secondaryPreferred' });
    const signedIn = await signIn(h, 'reader@example.com');
    user = signedIn.client;
    admin = (await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD)).client;
    for (const prompt of ['a fox', 'a hen', 'an owl']) {
      const doc = newGeneration(new ObjectId(signedIn.id), prompt, SETTINGS);
      await h.db.collection<GenerationDocument>(COLLECTIONS.generations).insertOne(doc);
      ids.unshift(doc._id.toHexString());
    }
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when a user lists their generations (the playground’s gallery), then the find goes out at secondaryPreferred', async () => {
    let page: GenerationPage | undefined;
    const modes = await generationReads(async () => (page = await user.list('?limit=10')));
    expect(modes).toEqual(['secondaryPreferred']);
    expect(page?.items.map((g) => g.id)).toEqual(ids);
  });

  test('when an admin lists every user’s generations, then the find goes out at secondaryPreferred', async () => {
    let status = 0;
    let listed: string[] = [];
    const modes = await generationReads(async () => {
      const reply = await admin.request<ApiSuccess<GenerationPage>>('GET', '/api/admin/generations');
      status = reply.status;
      listed = reply.body.data.items.map((g) => g.id);
    });
    expect(modes).toEqual(['secondaryPreferred']);
    expect({ status, listed }).toEqual({ status: 200, listed: ids });
  });

  test('when one generation is read, or canceled, then every read of it stays on the primary', async () => {
    const id = ids[0]!;
    const reads = await generationReads(async () => {
      expect((await user.get(id)).status).toBe(200);
      const reply = await user.request<ApiSuccess<Generation>>('POST', `/api/generations/${id}/cancel`);
      expect({ status: reply.status, after: reply.body.data.status }).toEqual({ status: 200, after: 'canceled' });
    });
    expect(reads.length).toBeGreaterThan(1);
    expect(new Set(reads)).toEqual(new Set(['primary']));
  });
});
