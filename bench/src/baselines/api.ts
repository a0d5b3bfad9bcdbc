import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Queue } from 'bullmq';
import { ObjectId, type Binary } from 'mongodb';
import { JOBS, QUEUES, jobOptions } from '@imagegen/shared';
import {
  COLLECTIONS,
  connectMongo,
  createRedis,
  generationJobData,
  newGeneration,
  type GenerationDocument,
  type ImageDocument,
} from '@imagegen/core';
import { DEFAULT_SETTINGS } from './settings';

/**
 * The floor under the API: a bare node:http server doing only the database and queue work of a
 * create (one insert, one queue add) and of a read (the record and its image, as a data URL).
 * No auth, validation, limits, events or logging: what is left is what any implementation pays.
 */
async function main(): Promise<void> {
  const env = process.env as Record<string, string>;
  const { db } = await connectMongo(env.MONGODB_URI!);
  const queue = new Queue(QUEUES.generations, {
    connection: createRedis({ mode: 'standalone', url: env.REDIS_URL! }, 'fail-fast'),
    prefix: env.QUEUE_PREFIX,
  });
  const generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  const images = db.collection<ImageDocument>(COLLECTIONS.images);
  const userId = new ObjectId();

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const bodyOf = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt: string };
  };

  createServer((req, res) => {
    const handle = async () => {
      if (req.method === 'POST') {
        const { prompt } = await bodyOf(req);
        const doc = newGeneration(userId, prompt, DEFAULT_SETTINGS);
        await generations.insertOne(doc);
        const payload = generationJobData(doc);
        await queue.add(JOBS.generationCreate, payload, jobOptions(JOBS.generationCreate, payload));
        const id = payload.generationId;
        return json(res, 202, { success: true, message: 'queued', data: { id, status: doc.status } });
      }
      const id = req.url?.split('/').pop() ?? '';
      if (!ObjectId.isValid(id)) return json(res, 200, { success: true, message: 'ok', data: null });
      const doc = await generations.findOne({ _id: new ObjectId(id) });
      const image = doc ? await images.findOne({ _id: doc._id }) : null;
      const data = image ? (image.data as unknown as Binary).buffer : null;
      const image_url = image && data ? `data:${image.mime_type};base64,${Buffer.from(data).toString('base64')}` : null;
      return json(res, 200, { success: true, message: 'ok', data: { ...doc, image_url } });
    };
    handle().catch((err: unknown) => json(res, 500, { success: false, message: (err as Error).message }));
  }).listen(Number(env.PORT), '127.0.0.1');
}

// Stopped by SIGTERM (processes.ts): exiting on it, rather than by its default action, lets
// `--cpu-prof` write the floor's profile too (BENCH_CPU_PROF).
process.once('SIGTERM', () => process.exit(0));
void main();
