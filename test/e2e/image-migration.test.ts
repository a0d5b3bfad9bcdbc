import { resolve } from 'node:path';
import { Binary, ObjectId } from 'mongodb';
import type { ApiSuccess, Generation } from '@imagegen/shared';
import { COLLECTIONS, type ImageDocument } from '@imagegen/core';
import type { ApiClient } from '../support/api-client';
import { makeImage } from '../support/hf-emulator';
import { startImageSystem, type ImageSystem } from '../support/image-system';
import type { Isolation } from '../support/isolation';
import { exitOf, runScript } from '../support/services';
import { newUser } from '../support/system';

/**
 * `pnpm images:migrate` as an operator runs it: the services restarted with the new IMAGE_STORE
 * and the old one as IMAGE_STORE_PREVIOUS, the script run (twice, as a resumed or repeated run
 * would be) while users keep creating, then every image checked where it now lives.
 */

const MIGRATE = resolve(__dirname, '../../services/worker/dist/images-migrate.js');
/** Generations made before the first migration. */
const BEFORE = 30;
/** Creates of each load at most, across its lanes: it stops by itself even if never told to. */
const LOAD_LIMIT = 40;
/** The test makes far more creates in a minute than one user's default allowance. */
const GENEROUS_LIMITS = { CREATE_RATE_LIMIT: '1000' };

/** A width for the `n`th generation: ten sizes, so images that were mixed up would differ. */
const widthOf = (n: number) => 256 + 8 * (n % 10);

interface Migration {
  code: number | null;
  output: string;
  moved: number;
  skipped: number;
}

async function migrate(env: Record<string, string>): Promise<Migration> {
  const run = runScript(MIGRATE, env);
  const { code } = await exitOf(run.child);
  const done = /images:migrate: done: (\d+) moved, (\d+) skipped/.exec(run.output());
  return { code, output: run.output(), moved: Number(done?.[1] ?? NaN), skipped: Number(done?.[2] ?? NaN) };
}

/**
 * Users creating while images migrate: each lane creates, waits for the image, then reads an older
 * image through the API, until stopped or the limit is reached. Every read that is not a 200 is
 * kept, to show that images stay readable while they move.
 */
class CreateLoad {
  /** What the load created, with the client of the generation's owner. */
  readonly made = new Map<string, ApiClient>();
  readonly failedReads: string[] = [];
  private stopped = false;
  private readonly lanes: Promise<void>[];
  /** Resolves once every lane has made its first create. */
  readonly started: Promise<unknown>;

  constructor(clients: ApiClient[], older: Map<string, ApiClient>) {
    const starts: Promise<void>[] = [];
    this.lanes = clients.map((client, lane) => {
      let first: () => void = () => {};
      starts.push(new Promise<void>((resolve) => (first = resolve)));
      const own = [...older].flatMap(([id, owner]) => (owner === client ? [id] : []));
      return this.lane(client, own, lane, first);
    });
    // A lane that fails before its first create fails the wait too, instead of leaving it hanging.
    this.started = Promise.all(starts.map((start, lane) => Promise.race([start, this.lanes[lane]])));
  }

  /** `older`: the client's own images from before. */
  private async lane(client: ApiClient, older: string[], lane: number, first: () => void): Promise<void> {
    for (let n = lane; !this.stopped && this.made.size < LOAD_LIMIT; n++) {
      const created = await client.create({ prompt: `made while images migrate, #${n}`, width: widthOf(n) });
      this.made.set(created.id, client);
      first();
      await client.waitFor(created.id);
      const old = older[n % older.length]!;
      const read = await client.image(old);
      if (read.status !== 200) this.failedReads.push(`${old}: ${read.status}`);
    }
    first();
  }

  /** Stops creating and resolves once every lane is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.lanes);
  }
}

describe('pnpm images:migrate: MongoDB to S3 and back, while users create', () => {
  let system: ImageSystem;
  let alice: ApiClient;
  let bob: ApiClient;
  /** Every generation made, by id, with the client of its owner. */
  const made = new Map<string, ApiClient>();
  /** An image with no generation: the migration leaves it where it is, for the sweep to remove. */
  const orphan = new ObjectId();

  const toS3 = (iso: Isolation) => ({
    ...iso.s3Env,
    ...GENEROUS_LIMITS,
    IMAGE_STORE: 's3',
    IMAGE_STORE_PREVIOUS: 'mongodb',
  });
  const toMongo = (iso: Isolation) => ({
    ...iso.s3Env,
    ...GENEROUS_LIMITS,
    IMAGE_STORE: 'mongodb',
    IMAGE_STORE_PREVIOUS: 's3',
  });
  /** The script's environment: the services' own settings, as an operator runs it beside them. */
  const scriptEnv = () => ({ ...system.iso.env, ...system.storeEnv });

  beforeAll(async () => {
    system = await startImageSystem(() => GENEROUS_LIMITS);
    alice = await newUser(system, 'alice');
    bob = await newUser(system, 'bob');
  });

  afterAll(async () => {
    await system?.stop();
  });

  /** Each generation's `/image` is 200 with the bytes of its data URL, and the size the model made. */
  async function expectEveryImageServed(): Promise<void> {
    const problems: string[] = [];
    const ids = [...made.keys()];
    for (let i = 0; i < ids.length; i += 10) {
      await Promise.all(
        ids.slice(i, i + 10).map(async (id) => {
          const client = made.get(id)!;
          const record = ((await client.get(id)).body as ApiSuccess<Generation>).data;
          const dataUrl = Buffer.from(record.image_url?.split(',')[1] ?? '', 'base64');
          const served = await client.image(id);
          const expected = makeImage('png', record.settings.width, record.settings.height);
          if (record.status !== 'completed') problems.push(`${id}: ${record.status}`);
          else if (served.status !== 200) problems.push(`${id}: /image ${served.status}`);
          else if (!served.bytes.equals(dataUrl)) problems.push(`${id}: /image and the data URL differ`);
          else if (!served.bytes.equals(expected)) problems.push(`${id}: not the image the model made`);
        }),
      );
    }
    expect(problems).toEqual([]);
  }

  /** Runs the load of creates while the script runs twice; every generation it made then completes. */
  async function migrateTwiceUnderLoad(): Promise<[Migration, Migration]> {
    const load = new CreateLoad([alice, bob], new Map(made));
    await load.started;
    const first = await migrate(scriptEnv());
    const second = await migrate(scriptEnv());
    await load.stop();
    process.stdout.write(`[image-migration] ${load.made.size} creates ran beside the two migrations\n`);
    for (const [id, client] of load.made) {
      expect(await client.waitFor(id)).toMatchObject({ status: 'completed' });
      made.set(id, client);
    }
    expect(load.failedReads).toEqual([]);
    return [first, second];
  }

  const sorted = (ids: Iterable<string>) => [...ids].sort();

  test('when IMAGE_STORE_PREVIOUS is not set, then the script exits 2 and says what to set', async () => {
    const run = await migrate({ ...system.iso.env, ...system.iso.s3Env });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/IMAGE_STORE_PREVIOUS/);
    expect(run.output).not.toMatch(/moved/);
  });

  test('when IMAGE_STORE_PREVIOUS is the same store as IMAGE_STORE, then the script refuses to start and names the setting', async () => {
    const run = await migrate({ ...system.iso.env, ...system.iso.s3Env, IMAGE_STORE_PREVIOUS: 's3' });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/IMAGE_STORE_PREVIOUS: must differ from IMAGE_STORE/);
  });

  test('when the default store holds the images, then every one is in the images collection and none in the bucket', async () => {
    for (let n = 0; n < BEFORE; n++) {
      const client = n % 2 ? bob : alice;
      made.set((await client.create({ prompt: `made before the migration, #${n}`, width: widthOf(n) })).id, client);
    }
    for (const [id, client] of made) expect(await client.waitFor(id)).toMatchObject({ status: 'completed' });
    await system.db.collection<ImageDocument>(COLLECTIONS.images).insertOne({
      _id: orphan,
      user_id: new ObjectId(),
      data: new Binary(makeImage('png', 8, 8)),
      mime_type: 'image/png',
      size_bytes: makeImage('png', 8, 8).length,
      width: 8,
      height: 8,
      created_at: new Date(),
    });

    expect(sorted(await system.mongoImageIds())).toEqual(sorted([...made.keys(), orphan.toHexString()]));
    expect(await system.bucketImageIds()).toEqual([]);
    await expectEveryImageServed();
  });

  test('when images migrate from MongoDB to S3 twice while users create, then the first run moves them all, the second none, and every image is served from the bucket', async () => {
    await system.restart(toS3);
    const [first, second] = await migrateTwiceUnderLoad();

    expect(first).toMatchObject({ code: 0, moved: BEFORE, skipped: 1 });
    expect(first.output).toMatch(/images:migrate: from MongoDB .* to S3 bucket/);
    expect(second).toMatchObject({ code: 0, moved: 0, skipped: 1 });

    expect(await system.mongoImageIds()).toEqual([orphan.toHexString()]);
    expect(sorted(await system.bucketImageIds())).toEqual(sorted(made.keys()));
    await expectEveryImageServed();
  });

  test('when images migrate back from S3 to MongoDB twice while users create, then the bucket is left empty and every image is served from MongoDB', async () => {
    await system.restart(toMongo);
    const inBucket = (await system.bucketImageIds()).length;
    const [first, second] = await migrateTwiceUnderLoad();

    expect(first).toMatchObject({ code: 0, moved: inBucket, skipped: 0 });
    expect(first.output).toMatch(/images:migrate: from S3 bucket .* to MongoDB/);
    expect(second).toMatchObject({ code: 0, moved: 0, skipped: 0 });

    expect(await system.bucketImageIds()).toEqual([]);
    expect(sorted(await system.mongoImageIds())).toEqual(sorted([...made.keys(), orphan.toHexString()]));
    await expectEveryImageServed();
  });
});
