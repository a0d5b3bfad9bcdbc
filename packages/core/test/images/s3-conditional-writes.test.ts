import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ObjectId } from 'mongodb';
import { isolation, type Isolation } from '../../../../test/support/isolation';
import { S3ImageStore, type ImageToStore } from '../../src';

const image = (text: string): ImageToStore => {
  const bytes = Buffer.from(text);
  return {
    owner: new ObjectId(),
    bytes,
    meta: { mime_type: 'image/png', size_bytes: bytes.length, width: 1, height: 1 },
  };
};

/**
 * An S3 server that does not know conditional writes, as S3-compatible servers before them did:
 * uploads and deletes go on to the test's versitygw, `If-None-Match` left out, so a second upload
 * of a key overwrites it. Any other request is answered 501. While `down`, everything is 503.
 */
class ServerWithoutConditions {
  readonly requests: string[] = [];
  down = false;
  private readonly server: Server;

  private constructor(private readonly behind: S3Client) {
    this.server = createServer((req, res) => {
      this.answer(req).then(
        ({ status, etag }) => res.writeHead(status, etag ? { etag } : {}).end(),
        () => res.writeHead(500).end(),
      );
    });
  }

  static async start(env: Isolation): Promise<ServerWithoutConditions> {
    const settings = env.s3Settings;
    const gateway = new ServerWithoutConditions(
      new S3Client({ endpoint: settings.S3_ENDPOINT, region: settings.S3_REGION, forcePathStyle: true }),
    );
    await new Promise<void>((resolve) => gateway.server.listen(0, '127.0.0.1', resolve));
    return gateway;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async answer(req: IncomingMessage): Promise<{ status: number; etag?: string }> {
    const [, Bucket = '', ...key] = new URL(req.url ?? '/', 'http://x').pathname.split('/');
    const Key = decodeURIComponent(key.join('/'));
    this.requests.push(`${req.method} ${Key}${req.headers['if-none-match'] ? ' (if-none-match)' : ''}`);
    if (this.down) return { status: 503 };
    if (req.method === 'PUT') {
      const Body = await buffer(req);
      const put = await this.behind.send(
        new PutObjectCommand({ Bucket, Key, Body, ContentType: req.headers['content-type'] }),
      );
      return { status: 200, etag: put.ETag ?? '"0"' };
    }
    if (req.method === 'DELETE') {
      await this.behind.send(new DeleteObjectCommand({ Bucket, Key }));
      return { status: 204 };
    }
    return { status: 501 };
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
    this.behind.destroy();
  }
}

describe('adding an image on S3, where the server may not refuse a taken key', () => {
  let env: Isolation;
  let gateway: ServerWithoutConditions;
  let direct: S3ImageStore;
  let raw: S3Client;

  beforeAll(async () => {
    env = isolation();
    gateway = await ServerWithoutConditions.start(env);
    direct = new S3ImageStore(env.s3Settings);
    raw = new S3Client({
      endpoint: env.s3Settings.S3_ENDPOINT,
      region: env.s3Settings.S3_REGION,
      forcePathStyle: true,
    });
  });

  afterAll(async () => {
    raw?.destroy();
    await direct?.close();
    await gateway?.close();
    await env?.cleanup();
  });

  const keys = async () => {
    const prefix = env.s3Settings.S3_KEY_PREFIX;
    const answer = await raw.send(new ListObjectsV2Command({ Bucket: env.s3Settings.S3_BUCKET, Prefix: prefix }));
    return (answer.Contents ?? []).map(({ Key }) => Key!.slice(prefix.length));
  };

  test('when the server overwrites a taken key, then `add` writes nothing and says so, every time, after one probe; `put` still writes', async () => {
    const store = new S3ImageStore({ ...env.s3Settings, S3_ENDPOINT: gateway.endpoint });
    try {
      const id = new ObjectId();
      await direct.put(id, image('the image already there'));
      const before = await keys();

      expect(await store.add(id, image('a stale delivery’s image'))).toBe(false);
      expect(await store.add(new ObjectId(), image('a new image'))).toBe(false);
      // The probe: its key twice, both written (the server did not refuse the second), then gone.
      expect(gateway.requests).toHaveLength(3);
      expect(
        gateway.requests.map((request) =>
          request.replace(env.s3Settings.S3_KEY_PREFIX, '').replace(/[0-9a-f]{24}/, 'ID'),
        ),
      ).toEqual([
        'PUT imagegen-conditional-write-probe-ID (if-none-match)',
        'PUT imagegen-conditional-write-probe-ID (if-none-match)',
        'DELETE imagegen-conditional-write-probe-ID',
      ]);
      expect(await keys()).toEqual(before);
      expect(await direct.read(id)).toEqual(Buffer.from('the image already there'));

      await store.put(id, image('the holder’s image'));
      expect(await direct.read(id)).toEqual(Buffer.from('the holder’s image'));
    } finally {
      await store.close();
    }
  });

  test('when S3 cannot be asked, then `add` fails, and the next one asks again', async () => {
    const store = new S3ImageStore({ ...env.s3Settings, S3_ENDPOINT: gateway.endpoint });
    try {
      gateway.requests.length = 0;
      gateway.down = true;
      await expect(store.add(new ObjectId(), image('an image'))).rejects.toThrow();
      gateway.down = false;
      const asked = gateway.requests.length;
      expect(await store.add(new ObjectId(), image('an image'))).toBe(false);
      expect(gateway.requests.slice(asked).map((request) => request.split(' ')[0])).toEqual(['PUT', 'PUT', 'DELETE']);
    } finally {
      await store.close();
    }
  });
});
