import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectId } from 'mongodb';
import { S3ImageStore } from '../../src';
import { unsignedUploads } from '../../src/images/s3-image-store';

const SETTINGS = {
  S3_BUCKET: 'images',
  S3_REGION: 'us-east-1',
  S3_FORCE_PATH_STYLE: true,
  S3_KEY_PREFIX: '',
  S3_PUBLIC_ENDPOINT: undefined,
};

describe('which uploads go with their body unsigned', () => {
  test.each([
    ['AWS (no endpoint, HTTPS)', undefined],
    ['an HTTPS endpoint', 'https://s3.example.com'],
    ['127.0.0.1', 'http://127.0.0.1:9000'],
    ['another loopback IPv4 address', 'http://127.0.0.2:9000'],
    ['IPv6 loopback', 'http://[::1]:9000'],
    ['localhost', 'http://localhost:9000'],
  ])('%s: unsigned, since nothing can alter the bytes on the way unnoticed', (_, endpoint) => {
    expect(unsignedUploads(endpoint)).toBe(true);
  });

  test.each([
    ['a host by name', 'http://minio:9000'],
    ['a private address', 'http://10.0.0.5:9000'],
    ['a public address', 'http://203.0.113.7'],
  ])('plain HTTP to %s: signed, so the server checks the body it got', (_, endpoint) => {
    expect(unsignedUploads(endpoint)).toBe(false);
  });
});

describe('an upload to a loopback endpoint', () => {
  let server: Server;
  let seen: { method?: string; headers: IncomingHttpHeaders; body: Buffer }[];
  const credentials = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    // The SDK takes its credentials from the environment, as the services' do.
    process.env.AWS_ACCESS_KEY_ID = 'test-key';
    process.env.AWS_SECRET_ACCESS_KEY = 'test-secret';
    seen = [];
    // Answers as S3 answers a PutObject, and keeps what it was sent.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { etag: '"0"' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const [name, value] of [
      ['AWS_ACCESS_KEY_ID', credentials.id],
      ['AWS_SECRET_ACCESS_KEY', credentials.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('sends the body whole, its hash declared unsigned and that declaration signed', async () => {
    const store = new S3ImageStore({
      ...SETTINGS,
      S3_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    const bytes = Buffer.from('an image, as far as S3 can tell');
    await store.put(new ObjectId(), {
      owner: new ObjectId(),
      bytes,
      meta: { mime_type: 'image/png', size_bytes: bytes.length, width: 1, height: 1 },
    });
    await store.close();
    const [put] = seen;
    expect(put?.method).toBe('PUT');
    expect(put?.body).toEqual(bytes);
    expect(put?.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(put?.headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256/);
  });
});
