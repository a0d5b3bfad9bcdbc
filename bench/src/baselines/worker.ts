import { createServer } from 'node:http';
import { Worker } from 'bullmq';
import { Binary, ObjectId } from 'mongodb';
import { request } from 'undici';
import { GenerationJobData, QUEUES } from '@imagegen/shared';
import { COLLECTIONS, connectMongo, createRedis, type GenerationDocument, type ImageDocument } from '@imagegen/core';

/**
 * The floor under the worker: a bare BullMQ worker doing only the Hugging Face call and the
 * MongoDB writes of a job (start, store the image, complete). No events, webhooks, retries,
 * sniffing or logging.
 */
async function main(): Promise<void> {
  const env = process.env as Record<string, string>;
  const { db } = await connectMongo(env.MONGODB_URI!);
  const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  const images = db.collection<ImageDocument>(COLLECTIONS.images);

  const worker = new Worker(
    QUEUES.generations,
    async (job) => {
      const { generationId, run } = GenerationJobData.parse(job.data);
      const _id = new ObjectId(generationId);
      const now = new Date();
      const doc = await generations.findOneAndUpdate(
        { _id, run, status: { $in: ['pending', 'processing'] } },
        { $set: { status: 'processing', started_at: now, updated_at: now }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      );
      if (!doc) return;
      const res = await request(`${env.HF_BASE_URL}/${doc.settings.model}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${env.HF_TOKEN}` },
        body: JSON.stringify({ inputs: doc.prompt }),
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      const meta = { mime_type: 'image/png' as const, size_bytes: bytes.length, width: 512, height: 512 };
      await images.replaceOne(
        { _id },
        { ...meta, user_id: doc.user_id, data: new Binary(bytes), created_at: new Date() },
        { upsert: true },
      );
      const done = new Date();
      await generations.updateOne(
        { _id, run, status: 'processing' },
        { $set: { status: 'completed', image: meta, error: null, completed_at: done, updated_at: done } },
      );
    },
    {
      connection: createRedis({ mode: 'standalone', url: env.REDIS_URL! }, 'blocking'),
      prefix: env.QUEUE_PREFIX,
      concurrency: Number(env.WORKER_CONCURRENCY),
    },
  );
  createServer((_req, res) => res.writeHead(worker.isRunning() ? 200 : 503).end()).listen(
    Number(env.WORKER_HEALTH_PORT),
    '127.0.0.1',
  );
}

// Stopped by SIGTERM (processes.ts): exiting on it, rather than by its default action, lets
// `--cpu-prof` write the floor's profile too (BENCH_CPU_PROF).
process.once('SIGTERM', () => process.exit(0));
void main();
