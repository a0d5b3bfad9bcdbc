import { makeImage } from '../../../test/support/hf-emulator';
import { sniffImage } from '../src/images/sniff';

// The smallest valid WebP: a 1×1 lossless VP8L image.
const WEBP_1X1 = Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64');

describe('sniffImage', () => {
  test('when the bytes are a PNG, then it reads image/png and the dimensions', () => {
    const bytes = makeImage('png', 33, 17);
    expect(sniffImage(bytes)).toEqual({ bytes, mime_type: 'image/png', width: 33, height: 17 });
  });

  test('when the bytes are a JPEG, then it reads image/jpeg and the dimensions', () => {
    const bytes = makeImage('jpeg', 24, 50);
    expect(sniffImage(bytes)).toEqual({ bytes, mime_type: 'image/jpeg', width: 24, height: 50 });
  });

  test('when the bytes are a WebP, then it reads image/webp and the dimensions', () => {
    expect(sniffImage(WEBP_1X1)).toMatchObject({ mime_type: 'image/webp', width: 1, height: 1 });
  });

  test.each([
    ['an HTML page', Buffer.from('<!DOCTYPE html><html><body>Something went wrong</body></html>')],
    ['a JSON error', Buffer.from(JSON.stringify({ error: 'Model is currently loading', estimated_time: 20 }))],
    ['empty', Buffer.alloc(0)],
    ['an SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')],
    ['a GIF', Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64')],
  ])('when the bytes are %s, then it is null', (_name, bytes) => {
    expect(sniffImage(bytes)).toBeNull();
  });

  test.each([
    ['a PNG cut after its header', makeImage('png', 256, 256).subarray(0, 40)],
    ['a PNG cut at 40 %', ((png: Buffer) => png.subarray(0, Math.floor(png.length * 0.4)))(makeImage('png', 256, 256))],
    ['a PNG missing its last byte', ((png: Buffer) => png.subarray(0, png.length - 1))(makeImage('png', 64, 64))],
    ['a JPEG cut in half', ((jpg: Buffer) => jpg.subarray(0, jpg.length >> 1))(makeImage('jpeg', 128, 128))],
    ['a WebP missing its last bytes', WEBP_1X1.subarray(0, WEBP_1X1.length - 4)],
  ])('when the bytes are %s, then it is null', (_name, bytes) => {
    expect(sniffImage(bytes)).toBeNull();
  });

  test('when a JPEG has padding after its end marker, then it is still an image', () => {
    const bytes = Buffer.concat([makeImage('jpeg', 24, 24), Buffer.alloc(8)]);
    expect(sniffImage(bytes)).toMatchObject({ mime_type: 'image/jpeg', width: 24, height: 24 });
  });
});
