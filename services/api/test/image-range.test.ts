import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { imageRange } from '../src/generations/image-range';

/** The size of the image every request below asks a range of. */
const SIZE = 100;

/**
 * A tiny Express app that hands `imageRange` exactly what the `/image` route hands it: the output
 * of Express's own `req.range(size, { combine: true })` for the request's real Range header.
 */
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.get('/', (req, res) => {
    const parsed = req.range(SIZE, { combine: true });
    res.json({
      parsed: Array.isArray(parsed) ? { type: parsed.type, ranges: [...parsed] } : (parsed ?? null),
      range: imageRange(parsed, SIZE),
    });
  });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  /** What Express's parser gave, so a failure shows which shape `imageRange` got. */
  parsed: unknown;
  range: ReturnType<typeof imageRange>;
}

async function rangeFor(header?: string): Promise<Answer> {
  const res = await fetch(base, { headers: header === undefined ? {} : { range: header } });
  return (await res.json()) as Answer;
}

describe('imageRange, given what Express parses from a Range header', () => {
  test('when there is no Range header, then the whole image is served', async () => {
    expect(await rangeFor()).toEqual({ parsed: null, range: null });
  });

  test.each([
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=0-0', { start: 0, end: 0 }],
    ['bytes=90-', { start: 90, end: 99 }],
    ['bytes=99-', { start: 99, end: 99 }],
    ['bytes=-5', { start: 95, end: 99 }],
    ['bytes=10-19', { start: 10, end: 19 }],
    // The end past the image is cut to the image's last byte, as RFC 9110 says.
    ['bytes=50-1000', { start: 50, end: 99 }],
    ['bytes= 3 - 7 ', { start: 3, end: 7 }],
  ])('when the header is %j, then that one range is served', async (header, range) => {
    expect((await rangeFor(header)).range).toEqual(range);
  });

  test('when overlapping or adjacent ranges combine into one, then that one range is served', async () => {
    expect((await rangeFor('bytes=0-4,3-9')).range).toEqual({ start: 0, end: 9 });
    expect((await rangeFor('bytes=10-14,15-19')).range).toEqual({ start: 10, end: 19 });
  });

  test.each(['bytes=0-', 'bytes=0-99', 'bytes=0-5000', 'bytes=0-49,50-99'])(
    'when the header %j covers every byte, then the whole image is served (200, not 206)',
    async (header) => {
      const answer = await rangeFor(header);
      expect(answer.parsed).toEqual({ type: 'bytes', ranges: [{ start: 0, end: 99 }] });
      expect(answer.range).toBeNull();
    },
  );

  test('when several separate ranges are asked, then the whole image is served instead of a multipart body', async () => {
    const answer = await rangeFor('bytes=0-4,10-14');
    expect(answer.parsed).toEqual({
      type: 'bytes',
      ranges: [
        { start: 0, end: 4 },
        { start: 10, end: 14 },
      ],
    });
    expect(answer.range).toBeNull();
  });

  test.each(['bytes=100-', 'bytes=100-200', 'bytes=500-600', 'bytes=-0', 'bytes=100-110,200-'])(
    'when the header %j starts past the last byte, then the range is unsatisfiable',
    async (header) => {
      expect(await rangeFor(header)).toEqual({ parsed: -1, range: 'unsatisfiable' });
    },
  );

  test.each(['bytes', 'bytes=abc', 'bytes=0-x', 'bytes=1-2,', '0-9'])(
    'when the header %j is malformed, then it is ignored and the whole image is served',
    async (header) => {
      expect(await rangeFor(header)).toEqual({ parsed: -2, range: null });
    },
  );

  test('when the header names another unit than bytes, then it is ignored and the whole image is served', async () => {
    const answer = await rangeFor('items=0-9');
    expect(answer.parsed).toEqual({ type: 'items', ranges: [{ start: 0, end: 9 }] });
    expect(answer.range).toBeNull();
  });

  test('when the unit is written in another case, then it is still bytes (RFC 9110: range units are case-insensitive)', async () => {
    expect((await rangeFor('Bytes=0-9')).range).toEqual({ start: 0, end: 9 });
    expect((await rangeFor('BYTES=-5')).range).toEqual({ start: 95, end: 99 });
  });
});
