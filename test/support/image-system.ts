import { MongoClient, type Db } from 'mongodb';
import { freePort } from '@imagegen/devstack';
import { COLLECTIONS, S3ImageStore, type ImageDocument } from '@imagegen/core';
import { ApiClient } from './api-client';
import { HfEmulator } from './hf-emulator';
import { isolation, type Isolation } from './isolation';
import { spawnApi, spawnWorker, type SpawnedService } from './services';
import { FAST_HF } from './system';

/** Store settings for the services, from the isolation (whose S3 key prefix is its own). */
export type StoreEnv = (iso: Isolation) => Record<string, string>;

/**
 * A test file's system whose image store the test chooses, and changes: the services can be
 * restarted with other store settings on the same database, queues, bucket prefix, API address
 * and tokens, as
 * an operator does around `pnpm images:migrate`. Handles on MongoDB and the bucket let the test
 * look at where the bytes really are.
 */
export interface ImageSystem {
  iso: Isolation;
  emulator: HfEmulator;
  api: SpawnedService;
  worker: SpawnedService;
  /** The store settings the services run with now (without the isolation's own). */
  storeEnv: Record<string, string>;
  db: Db;
  /** The isolation's own part of the test bucket. */
  bucket: S3ImageStore;
  client(): ApiClient;
  /** Ids of the images in MongoDB's `images` collection. */
  mongoImageIds(): Promise<string[]>;
  /** Ids of the images in the bucket under the isolation's key prefix. */
  bucketImageIds(): Promise<string[]>;
  /** Stops the API and the worker (SIGTERM, so they drain) and starts them with `storeEnv`. */
  restart(storeEnv: StoreEnv): Promise<void>;
  stop(): Promise<void>;
}

/** The same for every start, so that tokens issued before a restart still work after it. */
const JWT_SECRET = 'image-system-test-secret-of-32-bytes!';

export async function startImageSystem(storeEnv: StoreEnv): Promise<ImageSystem> {
  const iso = isolation();
  const emulator = await HfEmulator.start();
  const mongo = await MongoClient.connect(iso.mongoUri);
  const bucket = new S3ImageStore(iso.s3Settings);
  // The API keeps its port across restarts, so that clients made before one still reach it.
  const apiPort = String(await freePort());
  const services = async (store: Record<string, string>) => {
    const common = {
      ...iso.env,
      HF_TOKEN: FAST_HF.HF_TOKEN,
      HF_BASE_URL: emulator.baseUrl,
      PUBLIC_BASE_URL: `http://127.0.0.1:${apiPort}`,
      ...store,
    };
    const started = await Promise.allSettled([
      spawnApi({ ...common, JWT_SECRET, PORT: apiPort }),
      spawnWorker({ ...common, ...FAST_HF, HF_BASE_URL: emulator.baseUrl }),
    ]);
    const [api, worker] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed || !api || !worker) {
      await Promise.all([api?.stop(), worker?.stop()]);
      throw failed?.reason ?? new Error('service did not start');
    }
    return { api, worker };
  };
  const release = async () => {
    await emulator.close();
    await bucket.close();
    await mongo.close();
    await iso.cleanup();
  };

  let running: { api: SpawnedService; worker: SpawnedService };
  const firstEnv = storeEnv(iso);
  try {
    running = await services(firstEnv);
  } catch (err) {
    await release();
    throw err;
  }
  const system: ImageSystem = {
    iso,
    emulator,
    api: running.api,
    worker: running.worker,
    storeEnv: firstEnv,
    db: mongo.db(),
    bucket,
    client: () => new ApiClient(system.api.url),
    async mongoImageIds() {
      const images = await system.db
        .collection<ImageDocument>(COLLECTIONS.images)
        .find({}, { projection: { _id: 1 } })
        .toArray();
      return images.map((image) => image._id.toHexString());
    },
    async bucketImageIds() {
      const ids: string[] = [];
      for (let page = await bucket.list(null, 500); page.length > 0; page = await bucket.list(page.at(-1)!.id, 500)) {
        ids.push(...page.map((image) => image.id.toHexString()));
      }
      return ids;
    },
    async restart(next) {
      await Promise.all([system.api.stop(), system.worker.stop()]);
      system.storeEnv = next(iso);
      const restarted = await services(system.storeEnv);
      system.api = restarted.api;
      system.worker = restarted.worker;
    },
    async stop() {
      await Promise.all([system.api.stop(), system.worker.stop()]);
      await release();
    },
  };
  return system;
}
