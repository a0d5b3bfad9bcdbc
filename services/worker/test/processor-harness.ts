import type { Job } from 'bullmq';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import type { GenerationSettings } from '@imagegen/shared';
import {
  COLLECTIONS,
  GenerationStore,
  MongoImageStore,
  UsageLog,
  newGeneration,
  type GenerationDocument,
  type GenerationLifecycle,
  type Logger,
  type RunTimes,
} from '@imagegen/core';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { generateImageProcessor, type ProcessorDeps } from '../src/generate-image.processor';
import { GenerationRepository } from '../src/generations/generation.repository';
import type { ImageSource } from '../src/images/image-source';
import { SETTINGS } from './fixtures';

export interface RunOptions {
  usage?: ProcessorDeps['usage'];
  /** What follows each change of state; by default it does nothing. */
  lifecycle?: Partial<Pick<GenerationLifecycle, 'started' | 'notice' | 'ended'>>;
  signal?: AbortSignal;
}

export interface ProcessorHarness {
  db: Db;
  store: GenerationStore;
  images: MongoImageStore;
  /** The messages the processor logged as warnings, in the current test. */
  warnings: string[];
  /** Runs the processor once on a new pending generation with `settings`, and returns its record. */
  runOnce(
    source: ImageSource,
    settings: Partial<GenerationSettings>,
    options?: RunOptions,
  ): Promise<{ id: ObjectId; record: GenerationDocument; outcome: unknown }>;
}

/**
 * The generation processor on a real MongoDB-wire server, for tests of single runs: a database of
 * the test file's own (set up before its tests, removed after), and `runOnce`. Called at the top
 * of a `describe`, whose hooks it registers.
 */
export function processorHarness(): ProcessorHarness {
  let env: Isolation;
  let client: MongoClient;
  const warnings: string[] = [];
  const logger = {
    child: () => logger,
    info: () => undefined,
    error: () => undefined,
    warn: (_fields: unknown, message: string) => warnings.push(message),
  } as unknown as Logger;
  const harness = { warnings } as ProcessorHarness;

  beforeAll(async () => {
    env = isolation();
    client = await new MongoClient(env.mongoUri).connect();
    harness.db = client.db();
    harness.store = new GenerationStore(harness.db);
    harness.images = new MongoImageStore(harness.db);
  });

  afterAll(async () => {
    await client?.close();
    await env?.cleanup();
  });

  beforeEach(() => warnings.splice(0));

  harness.runOnce = async (source, settings, options = {}) => {
    const { db, store, images } = harness;
    const doc = newGeneration(new ObjectId(), 'a harbour at night', { ...SETTINGS, ...settings });
    const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    await generations.insertOne(doc);
    const lifecycle = {
      started: async () => undefined,
      ended: async () => undefined,
      notice: async () => undefined,
      queued: async () => undefined,
      ...options.lifecycle,
    } as unknown as GenerationLifecycle;
    const process = generateImageProcessor({
      store,
      generations: new GenerationRepository(db, store, images),
      source,
      lifecycle,
      runTimes: { record: async () => undefined } as unknown as RunTimes,
      logger,
      metrics: { jobEnded: () => undefined },
      usage: options.usage ?? new UsageLog(db),
      dbRetryMs: 1_000,
      outageDelayMs: 1_000,
    });
    const job = { id: 'job-1', data: { generationId: doc._id.toHexString(), run: 1 }, attemptsStarted: 1 } as Job;
    const outcome = await process(job, undefined, options.signal ?? new AbortController().signal).then(
      () => 'returned',
      (err: unknown) => err,
    );
    return { id: doc._id, record: (await generations.findOne({ _id: doc._id }))!, outcome };
  };
  return harness;
}
