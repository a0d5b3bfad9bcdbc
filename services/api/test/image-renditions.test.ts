import { ObjectId } from 'mongodb';
import sharp from 'sharp';
import type { ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, MongoImageStore, connectMongo, type ImageStore, type Mongo } from '@imagegen/core';
import { makeImage } from '../../../test/support/hf-emulator';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { NotFoundError } from '../src/errors';
import {
  etagOf,
  mimeTypeOf,
  render,
  renditionBytes,
  renditionFor,
  type Rendition,
  type ServedImage,
} from '../src/generations/image-renditions';

/**
 * Renditions with real sharp on real images (pngjs, jpeg-js and sharp-made ones), kept in a real
 * MongoDB-wire image store on this file's own database.
 */

const PNG_META = (width: number, height: number, bytes: Buffer): ImageMeta => ({
  mime_type: 'image/png',
  size_bytes: bytes.length,
  width,
  height,
});

let iso: Isolation;
let mongo: Mongo;
let store: MongoImageStore;

beforeAll(async () => {
  iso = isolation();
  mongo = await connectMongo(iso.mongoUri);
  store = new MongoImageStore(mongo.db);
});

afterAll(async () => {
  await mongo?.client.close();
  await iso?.cleanup();
});

/** A generation whose image `index` (and the first, which every generation has) is `bytes`. */
async function stored(bytes: Buffer, meta: ImageMeta, index = 0): Promise<ServedImage & { rendition: null }> {
  const id = new ObjectId();
  const owner = new ObjectId();
  await store.put(id, { owner, bytes, meta });
  if (index > 0) await store.put(id, { owner, bytes, meta }, { index });
  return { id, owner, index, original: meta, rendition: null };
}

const asking = (image: ServedImage, rendition: Rendition | null) => {
  if (!rendition) throw new Error('no rendition was asked');
  return { ...image, rendition };
};

describe('renditionFor and etagOf', () => {
  const png = PNG_META(512, 384, Buffer.alloc(1));
  const id = new ObjectId();
  const served = (index: number, rendition: Rendition | null): ServedImage => ({
    id,
    owner: new ObjectId(),
    index,
    original: png,
    rendition,
  });

  test.each([
    [{}, null],
    [{ format: 'png' as const }, null],
    [{ format: 'jpeg' as const }, { name: 'jpeg', format: 'jpeg', stored: false }],
    [{ width: 256 as const }, { name: 'w256.webp', width: 256, format: 'webp', stored: true }],
    [
      { width: 128 as const, format: 'png' as const },
      { name: 'w128.png', width: 128, format: 'png', stored: true },
    ],
  ])('when a PNG is asked %j, then the rendition is %j', (query, rendition) => {
    expect(renditionFor(png, query)).toEqual(rendition);
  });

  test('when the first image is served as sent, then its ETag is the generation id, as before there were several', () => {
    expect(etagOf(served(0, null))).toBe(`"${id.toHexString()}"`);
    expect(mimeTypeOf(served(0, null))).toBe('image/png');
  });

  test('when another image or a rendition is served, then each has a strong ETag of its own; a full-size conversion a weak one', () => {
    const thumbnail = served(0, renditionFor(png, { width: 256 }));
    const tags = [
      etagOf(served(0, null)),
      etagOf(served(2, null)),
      etagOf(thumbnail),
      etagOf(served(2, renditionFor(png, { width: 256 }))),
      etagOf(served(0, renditionFor(png, { width: 256, format: 'jpeg' }))),
    ];
    expect(new Set(tags).size).toBe(tags.length);
    expect(tags.slice(1)).toEqual([
      `"${id.toHexString()}.2"`,
      `"${id.toHexString()}.0.w256.webp"`,
      `"${id.toHexString()}.2.w256.webp"`,
      `"${id.toHexString()}.0.w256.jpeg"`,
    ]);
    expect(etagOf(served(1, renditionFor(png, { format: 'webp' })))).toBe(`W/"${id.toHexString()}.1.webp"`);
    expect(mimeTypeOf(thumbnail)).toBe('image/webp');
  });
});

describe('render, with sharp', () => {
  test('when a 512×384 PNG is made 256 wide, then it is a WebP of 256×192 whose metadata tells its true size', async () => {
    const png = makeImage('png', 512, 384);
    const { bytes, meta } = await render(png, renditionFor(PNG_META(512, 384, png), { width: 256 })!);
    const read = await sharp(bytes).metadata();
    expect({ format: read.format, width: read.width, height: read.height }).toEqual({
      format: 'webp',
      width: 256,
      height: 192,
    });
    expect(meta).toEqual({ mime_type: 'image/webp', size_bytes: bytes.length, width: 256, height: 192 });
    expect(bytes.length).toBeLessThan(png.length);
  });

  test('when an image narrower than the width is asked, then it keeps its own width (never enlarged)', async () => {
    const png = makeImage('png', 64, 48);
    const { meta } = await render(png, renditionFor(PNG_META(64, 48, png), { width: 256 })!);
    expect(meta).toMatchObject({ mime_type: 'image/webp', width: 64, height: 48 });
  });

  test('when a JPEG is converted to PNG at full size, then it is a PNG of the same size', async () => {
    const jpeg = makeImage('jpeg', 320, 200);
    const meta: ImageMeta = { mime_type: 'image/jpeg', size_bytes: jpeg.length, width: 320, height: 200 };
    const made = await render(jpeg, renditionFor(meta, { format: 'png' })!);
    expect((await sharp(made.bytes).metadata()).format).toBe('png');
    expect(made.meta).toMatchObject({ mime_type: 'image/png', width: 320, height: 200 });
  });

  test('when a transparent PNG becomes a JPEG, then its transparent pixels are white', async () => {
    const clear = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#00000000' } })
      .png()
      .toBuffer();
    const { bytes } = await render(clear, renditionFor(PNG_META(40, 30, clear), { format: 'jpeg' })!);
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    expect(Math.min(...data)).toBeGreaterThan(245);
  });

  test('when a JPEG is cut short, then a thumbnail is still drawn from what decodes, as a browser shows it', async () => {
    const whole = makeImage('jpeg', 320, 240);
    const cut = whole.subarray(0, Math.floor(whole.length * 0.6));
    const meta: ImageMeta = { mime_type: 'image/jpeg', size_bytes: cut.length, width: 320, height: 240 };
    const { meta: made } = await render(cut, renditionFor(meta, { width: 128 })!);
    expect(made).toMatchObject({ mime_type: 'image/webp', width: 128, height: 96 });
  });

  test('when a JPEG carries an EXIF orientation, then the thumbnail is turned as a browser shows the original', async () => {
    // Stored 400×200 and marked "rotate 90°": shown 200 wide and 400 tall.
    const turned = await sharp(makeImage('jpeg', 400, 200))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const meta: ImageMeta = { mime_type: 'image/jpeg', size_bytes: turned.length, width: 400, height: 200 };
    const { meta: made } = await render(turned, renditionFor(meta, { width: 128 })!);
    expect(made).toMatchObject({ width: 128, height: 256 });
  });
});

describe('renditionBytes, on a MongoDB-wire image store', () => {
  const png = makeImage('png', 512, 384);
  const meta = PNG_META(512, 384, png);

  test('when a thumbnail is first asked, then it is made and stored as the rendition part; the next ask is served from the store', async () => {
    const image = await stored(png, meta);
    const thumbnail = asking(image, renditionFor(meta, { width: 256 }));
    const part = { index: 0, rendition: 'w256.webp' };
    expect(await store.has(image.id, part)).toBe(false);

    const first = await renditionBytes(store, thumbnail);
    expect(await store.read(image.id, part)).toEqual(first);
    const record = await mongo.db
      .collection(COLLECTIONS.imageParts)
      .findOne({ _id: `${image.id.toHexString()}.0.w256.webp` as never });
    expect(record).toMatchObject({ mime_type: 'image/webp', width: 256, height: 192, size_bytes: first.length });

    // Other valid WebP bytes in its place: the next ask returns them, so it did not make the thumbnail again.
    const other = await sharp(makeImage('png', 200, 100))
      .webp()
      .toBuffer();
    await store.put(image.id, { owner: image.owner, bytes: other, meta }, part);
    expect(await renditionBytes(store, thumbnail)).toEqual(other);
  });

  test('when a full-size conversion is asked, then it is made each time and nothing is stored', async () => {
    const image = await stored(png, meta);
    const bytes = await renditionBytes(store, asking(image, renditionFor(meta, { format: 'jpeg' })));
    expect((await sharp(bytes).metadata()).format).toBe('jpeg');
    expect(await store.has(image.id, { index: 0, rendition: 'jpeg' })).toBe(false);
    expect(await mongo.db.collection(COLLECTIONS.imageParts).countDocuments({ generation_id: image.id })).toBe(0);
  });

  test('when image 2 is asked as a thumbnail, then it is made from image 2 and stored under index 2', async () => {
    const second = makeImage('png', 300, 300);
    const image = await stored(second, PNG_META(300, 300, second), 2);
    const bytes = await renditionBytes(store, asking(image, renditionFor(image.original, { width: 128 })));
    expect(await sharp(bytes).metadata()).toMatchObject({ width: 128, height: 128 });
    expect(await store.has(image.id, { index: 2, rendition: 'w128.webp' })).toBe(true);
    expect(await store.has(image.id, { index: 0, rendition: 'w128.webp' })).toBe(false);
  });

  test('when eight requests miss the same thumbnail at once, then each gets the same bytes, which are what is stored', async () => {
    const image = await stored(png, meta);
    const thumbnail = asking(image, renditionFor(meta, { width: 512 }));
    const answers = await Promise.all(Array.from({ length: 8 }, () => renditionBytes(store, thumbnail)));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(await store.read(image.id, { index: 0, rendition: 'w512.webp' })).toEqual(answers[0]);
    expect(await mongo.db.collection(COLLECTIONS.imageParts).countDocuments({ generation_id: image.id })).toBe(1);
  });

  test('when the original is gone, then a thumbnail is a 404 and nothing is stored', async () => {
    const image = await stored(png, meta);
    await store.delete(image.id);
    const asked = renditionBytes(store, asking(image, renditionFor(meta, { width: 128 })));
    await expect(asked).rejects.toThrow(NotFoundError);
    expect(await store.has(image.id, { index: 0, rendition: 'w128.webp' })).toBe(false);
  });

  test('when the generation is deleted while its thumbnail is made, then the stored thumbnail goes too', async () => {
    const image = await stored(png, meta);
    // The deletion lands between the read of the original and the write of the thumbnail.
    const racing: ImageStore = Object.create(store, {
      put: {
        value: async (...args: Parameters<ImageStore['put']>) => {
          await store.delete(image.id);
          await store.put(...args);
        },
      },
    });
    await renditionBytes(racing, asking(image, renditionFor(meta, { width: 128 })));
    expect(await store.has(image.id, { index: 0, rendition: 'w128.webp' })).toBe(false);
    expect(await mongo.db.collection(COLLECTIONS.imageParts).countDocuments({ generation_id: image.id })).toBe(0);
  });

  test('when the generation is deleted from the store, then its thumbnails go with it', async () => {
    const image = await stored(png, meta);
    await renditionBytes(store, asking(image, renditionFor(meta, { width: 128 })));
    await renditionBytes(store, asking(image, renditionFor(meta, { width: 256, format: 'png' })));
    expect(await mongo.db.collection(COLLECTIONS.imageParts).countDocuments({ generation_id: image.id })).toBe(2);
    await store.delete(image.id);
    expect(await mongo.db.collection(COLLECTIONS.imageParts).countDocuments({ generation_id: image.id })).toBe(0);
  });
});
