import { request } from 'node:http';
import type { Stack } from '@imagegen/devstack';
import { COLLECTIONS, connectMongo, newGeneration, S3ImageStore, type GenerationDocument } from '@imagegen/core';
import { ImageStoreSettings } from '@imagegen/shared';
import { DEFAULT_SETTINGS } from './baselines/settings';
import { place, s3Store, startOurApi } from './setup';

/** Requests measured per side. */
const REQUESTS = 20;

/** Every byte one request to `url` took off the wire (status line, headers and body), on a connection of its own. */
function bytesOf(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: res.socket.bytesRead }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * What a client that follows presigned URLs saves the API: the bytes the API sends for one image
 * through `/image` (IMAGE_URLS=api), against the bytes it sends for the same image when the client
 * reads the record and fetches the bytes from the bucket (IMAGE_URLS=presigned), where all the
 * API sends is the record with its URL.
 */
export async function imageOffload(stack: Stack, image: Buffer) {
  const where = place(stack, 'image');
  const storeEnv = s3Store(stack, where.QUEUE_PREFIX);
  // The SDK in this process reads them from the environment too.
  process.env.AWS_ACCESS_KEY_ID = storeEnv.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = storeEnv.AWS_SECRET_ACCESS_KEY;
  const images = new S3ImageStore(ImageStoreSettings.parse(storeEnv));
  const mongo = await connectMongo(where.MONGODB_URI);
  const measure = async (mode: 'api' | 'presigned') => {
    const { api, token, userId } = await startOurApi({ ...where, ...storeEnv, IMAGE_URLS: mode });
    const auth = { authorization: `Bearer ${token}` };
    try {
      const doc = newGeneration(userId, 'a bench picture in a bucket', DEFAULT_SETTINGS);
      const meta = { mime_type: 'image/png' as const, size_bytes: image.length, width: 512, height: 512 };
      await images.put(doc._id, { owner: userId, bytes: image, meta });
      const now = new Date();
      await mongo.db
        .collection<GenerationDocument>(COLLECTIONS.generations)
        .insertOne({ ...doc, status: 'completed', image: meta, started_at: now, completed_at: now });
      const list = `${api.url}/api/generations?limit=1`;
      let api_bytes = 0;
      let bucket_bytes = 0;
      for (let i = 0; i < REQUESTS; i++) {
        if (mode === 'api') {
          const served = await bytesOf(`${api.url}/api/generations/${doc._id.toHexString()}/image`, auth);
          if (served.status !== 200) throw new Error(`/image answered ${served.status}`);
          api_bytes += served.bytes;
        } else {
          // The record (a list page of one), whose urls.image is the presigned URL; then the bucket.
          const record = (await (await fetch(list, { headers: auth })).json()) as {
            data: { items: { urls: { image: string } }[] };
          };
          api_bytes += (await bytesOf(list, auth)).bytes;
          const fetched = await bytesOf(record.data.items[0]!.urls.image);
          if (fetched.status !== 200) throw new Error(`the presigned URL answered ${fetched.status}`);
          bucket_bytes += fetched.bytes;
        }
      }
      return { api_bytes: Math.round(api_bytes / REQUESTS), bucket_bytes: Math.round(bucket_bytes / REQUESTS) };
    } finally {
      await api.stop();
    }
  };
  try {
    const before = await measure('api');
    const after = await measure('presigned');
    return {
      image_bytes: image.length,
      api_bytes_per_image_before: before.api_bytes,
      api_bytes_per_image_after: after.api_bytes,
      bucket_bytes_per_image_after: after.bucket_bytes,
      ratio: Math.round((after.api_bytes / before.api_bytes) * 10_000) / 10_000,
    };
  } finally {
    await images.close();
    await mongo.client.close();
  }
}
