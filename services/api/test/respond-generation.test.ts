import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import fc from 'fast-check';
import { ObjectId } from 'mongodb';
import { toSummary, newGeneration } from '@imagegen/core';
import type { Generation } from '@imagegen/shared';
import { respond, respondGeneration } from '../src/http/respond';
import { SETTINGS } from '../../../test/support/generation-settings';

/** A generation as the API answers it, with `prompt` and `error` as given and, if `image`, its data URL. */
function generationOf(prompt: string, error: string | null, image: Buffer | null): Generation {
  const doc = { ...newGeneration(new ObjectId(), prompt, SETTINGS), error };
  return {
    ...toSummary(doc, 'http://api.test'),
    image_url: image ? `data:image/png;base64,${image.toString('base64')}` : null,
    queue_position: 3,
    estimated_start_seconds: null,
  };
}

/**
 * `respondGeneration` writes `image_url` into the JSON text itself: the answer must read back as
 * exactly what `respond` (JSON.stringify) would have sent, whatever the record's text holds.
 */
describe('respondGeneration', () => {
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let url: string;
  let next: { generation: Generation; fast: boolean };

  beforeAll(async () => {
    const app = express();
    app.get('/', (_req, res) => {
      if (next.fast) respondGeneration(res, 202, 'Generation queued', next.generation);
      else respond(res, 202, 'Generation queued', next.generation);
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function answer(generation: Generation, fast: boolean) {
    next = { generation, fast };
    const res = await fetch(url);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      length: res.headers.get('content-length'),
      text,
    };
  }

  test('when the generation has a data URL, then the answer reads as JSON.stringify’s, with its status, type and length', async () => {
    const generation = generationOf('a "quoted" \\ prompt </script>', null, randomBytes(300_000));
    const fast = await answer(generation, true);
    const plain = await answer(generation, false);
    expect(fast.status).toBe(202);
    expect(fast.type).toBe(plain.type);
    expect(Number(fast.length)).toBe(Buffer.byteLength(fast.text));
    expect(JSON.parse(fast.text)).toEqual(JSON.parse(plain.text));
    expect(JSON.parse(fast.text)).toEqual({ success: true, message: 'Generation queued', data: generation });
  });

  test('when the generation has no image yet, then `image_url` reads as null', async () => {
    const generation = generationOf('a pending prompt', null, null);
    expect(JSON.parse((await answer(generation, true)).text)).toEqual({
      success: true,
      message: 'Generation queued',
      data: { ...generation, image_url: null },
    });
  });

  test('whatever text the prompt and error hold, the answer reads back as the record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary' }),
        fc.option(fc.string({ unit: 'binary' })),
        fc.option(fc.uint8Array({ maxLength: 64 })),
        async (prompt, error, image) => {
          const generation = generationOf(prompt, error, image ? Buffer.from(image) : null);
          expect(JSON.parse((await answer(generation, true)).text)).toEqual(
            JSON.parse((await answer(generation, false)).text),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test('when the same generation is answered again, then its ETag is the same and If-None-Match of it answers 304 without a body', async () => {
    const generation = generationOf('an unchanged prompt', null, randomBytes(300_000));
    next = { generation, fast: true };
    const first = await fetch(url);
    await first.arrayBuffer();
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/"[\w-]{27}-[0-9a-f]+"$/);
    // fetch adds `Cache-Control: no-cache` (which forbids a 304) to a request with If-None-Match
    // unless the request says otherwise.
    const again = await fetch(url, { headers: { 'if-none-match': etag!, 'cache-control': 'max-age=0' } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const other = await fetch(url, {
      headers: { 'if-none-match': 'W/"something-else"', 'cache-control': 'max-age=0' },
    });
    expect(other.status).toBe(202);
    expect(other.headers.get('etag')).toBe(etag);
    await other.arrayBuffer();
  });

  test('when any field of the record or the image’s presence differs, then the ETag differs', async () => {
    const etagOf = async (generation: Generation) => {
      next = { generation, fast: true };
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.headers.get('etag');
    };
    const image = randomBytes(1_000);
    const base = generationOf('a prompt', null, image);
    const seen = new Set([await etagOf(base)]);
    const variants: Generation[] = [
      { ...base, status: 'failed', error: 'it failed' },
      { ...base, prompt: 'a prompt.' },
      { ...base, attempts: base.attempts + 1 },
      { ...base, image_url: null },
      { ...base, queue_position: 4 },
    ];
    for (const variant of variants) seen.add(await etagOf(variant));
    expect(seen.size).toBe(variants.length + 1);
  });
});
