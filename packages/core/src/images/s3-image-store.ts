import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import ipaddr from 'ipaddr.js';
import { ObjectId } from 'mongodb';
import type { ImageStoreSettings } from '@imagegen/shared';
import {
  FIRST_IMAGE,
  partSuffix,
  type ByteRange,
  type ImageBody,
  type ImagePart,
  type ImageStore,
  type ImageToStore,
  type PresignedUrl,
  type StoredImage,
} from './image-store';

export type S3StoreSettings = Pick<
  ImageStoreSettings,
  'S3_BUCKET' | 'S3_ENDPOINT' | 'S3_PUBLIC_ENDPOINT' | 'S3_REGION' | 'S3_FORCE_PATH_STYLE' | 'S3_KEY_PREFIX'
>;

const ID_KEY = /^[0-9a-f]{24}$/;
/** What follows the id in the key of a part other than the first image (`partSuffix`). */
const PART_SUFFIX = /^\.\d+(?:\.[a-z0-9.]+)?$/;

/**
 * Whether uploads to `endpoint` (AWS's own, over HTTPS, when unset) go with their body unsigned
 * (`x-amz-content-sha256: UNSIGNED-PAYLOAD`). Signature V4 otherwise signs a SHA-256 of the body,
 * which the server computes again to check it. For a 1 MB image that was 1.6 ms of the worker's
 * CPU, 5.7 % of its profile in the bench's memory part, and a hash in the server's too. Over TLS the
 * bytes are guarded in transit already, and on this machine's loopback nothing lies between; the
 * headers stay signed either way. Plain HTTP to another host keeps the signed hash: nothing else
 * there would notice bytes altered on the way.
 */
export function unsignedUploads(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return true;
  const { protocol, hostname } = new URL(endpoint);
  if (protocol === 'https:') return true;
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

/**
 * True when S3 refused a write under `If-None-Match: *`: 412, the key is taken; or 409, another
 * conditional write of the key was under way (AWS asks for a retry then). Either way this write
 * did not happen, and the key may be someone else's.
 */
function refusedAsTaken(err: unknown): boolean {
  return err instanceof S3ServiceException && [409, 412].includes(err.$metadata.httpStatusCode ?? 0);
}

/** True when S3 answered that the object (or the range of it) is not there. */
function missing(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404);
}

/**
 * Images in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, versitygw): a generation's first
 * image at `S3_KEY_PREFIX` + its id, and its other parts (more images, renditions) at that key and
 * the part's suffix (`.1`, `.0.w256.webp`). Credentials come from the SDK's usual chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance or pod role), never from our settings.
 */
export class S3ImageStore implements ImageStore {
  readonly kind = 's3';
  readonly description: string;
  private readonly client: S3Client;
  /** Signs URLs for clients, which may reach the bucket by another address (S3_PUBLIC_ENDPOINT). */
  private readonly signer: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  /** See `unsignedUploads`. */
  private readonly unsignedUploads: boolean;
  /** Whether the server honours `If-None-Match: *` on uploads, once asked (`conditionalWrites`). */
  private conditional: Promise<boolean> | undefined;

  constructor(settings: S3StoreSettings) {
    if (!settings.S3_BUCKET) throw new Error('S3_BUCKET is required for the S3 image store');
    this.bucket = settings.S3_BUCKET;
    this.prefix = settings.S3_KEY_PREFIX;
    const client = (endpoint: string | undefined) =>
      new S3Client({
        region: settings.S3_REGION,
        forcePathStyle: settings.S3_FORCE_PATH_STYLE,
        ...(endpoint && { endpoint }),
        // Checksums only when S3 asks for them: many S3-compatible servers refuse the newer
        // trailing-checksum uploads that the SDK otherwise sends by default.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    this.client = client(settings.S3_ENDPOINT);
    this.unsignedUploads = unsignedUploads(settings.S3_ENDPOINT);
    this.signer = settings.S3_PUBLIC_ENDPOINT ? client(settings.S3_PUBLIC_ENDPOINT) : this.client;
    this.description = `S3 bucket ${this.bucket}${settings.S3_ENDPOINT ? ` at ${settings.S3_ENDPOINT}` : ''}${this.prefix ? `, keys under ${this.prefix}` : ''}`;
  }

  private key(id: ObjectId, part: ImagePart = FIRST_IMAGE): string {
    return `${this.prefix}${id.toHexString()}${partSuffix(part)}`;
  }

  async put(id: ObjectId, image: ImageToStore, part?: ImagePart): Promise<void> {
    await this.upload(this.key(id, part), image);
  }

  /**
   * Uploads with `If-None-Match: *`, which the server refuses where the key is taken, deciding
   * between concurrent writers of one key: only one is stored and told so. False when nothing was
   * written: the key was taken, or the server would not have refused (`conditionalWrites`), in
   * which case the caller checks what it must and uses `put`.
   */
  async add(id: ObjectId, image: ImageToStore, part?: ImagePart): Promise<boolean> {
    if (!(await this.conditionalWrites())) return false;
    try {
      await this.upload(this.key(id, part), image, { ifAbsent: true });
      return true;
    } catch (err) {
      if (refusedAsTaken(err)) return false;
      throw err;
    }
  }

  /**
   * Whether the server refuses an upload under `If-None-Match: *` to a taken key, as AWS S3,
   * MinIO, R2 and versitygw do. One that ignores the header overwrites instead, so `add` must not
   * rely on it before the server has shown it: a probe key under our prefix (no image's key, which
   * `list` skips) is written twice, then deleted. Asked once per process; a probe that fails (S3
   * away) is asked again at the next `add`.
   */
  private conditionalWrites(): Promise<boolean> {
    this.conditional ??= this.probeConditionalWrites().catch((err: unknown) => {
      this.conditional = undefined;
      throw err;
    });
    return this.conditional;
  }

  private async probeConditionalWrites(): Promise<boolean> {
    const key = `${this.prefix}imagegen-conditional-write-probe-${new ObjectId().toHexString()}`;
    const probe: ImageToStore = {
      owner: new ObjectId(),
      bytes: Buffer.alloc(0),
      meta: { mime_type: 'image/png', size_bytes: 0, width: 0, height: 0 },
    };
    try {
      await this.upload(key, probe, { ifAbsent: true });
      try {
        await this.upload(key, probe, { ifAbsent: true });
        return false;
      } catch (err) {
        if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412) return true;
        throw err;
      }
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    }
  }

  private async upload(key: string, { owner, bytes, meta }: ImageToStore, { ifAbsent = false } = {}): Promise<void> {
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      Body: bytes,
      ContentType: meta.mime_type,
      ContentLength: bytes.length,
      // Immutable under its key, as the API's own /image says.
      CacheControl: 'private, max-age=31536000, immutable',
      Metadata: { owner: owner.toHexString(), width: String(meta.width), height: String(meta.height) },
      ...(ifAbsent && { IfNoneMatch: '*' }),
    });
    if (this.unsignedUploads) {
      // Set before the signing step, which then takes it as the body's hash rather than computing one.
      command.middlewareStack.add(
        (next) => (args) => {
          (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
          return next(args);
        },
        { step: 'build', name: 'imagegenUnsignedPayload' },
      );
    }
    await this.client.send(command);
  }

  async read(id: ObjectId, part?: ImagePart): Promise<Buffer | null> {
    const body = await this.open(id, undefined, part);
    if (!body) return null;
    // Into one buffer of the length S3 announced, rather than chunks joined afterwards: a read of a
    // 1 MB image then copies it once, not twice (Buffer.concat was 1 ms of the API's CPU per image).
    // What does not fit (a server that announced no length, or a wrong one) is kept and joined.
    const bytes = Buffer.allocUnsafe(body.length);
    let size = 0;
    const overflow: Buffer[] = [];
    for await (const chunk of body.stream as AsyncIterable<Buffer>) {
      const copied = chunk.copy(bytes, size);
      size += copied;
      if (copied < chunk.length) overflow.push(chunk.subarray(copied));
    }
    return overflow.length ? Buffer.concat([bytes, ...overflow]) : bytes.subarray(0, size);
  }

  async open(id: ObjectId, range?: ByteRange, part?: ImagePart): Promise<ImageBody | null> {
    try {
      const answer = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(id, part),
          ...(range && { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      return { stream: answer.Body as Readable, length: answer.ContentLength ?? 0 };
    } catch (err) {
      if (missing(err)) return null;
      throw err;
    }
  }

  async has(id: ObjectId, part?: ImagePart): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(id, part) }));
      return true;
    } catch (err) {
      if (missing(err)) return false;
      throw err;
    }
  }

  /**
   * The other parts are listed (keys of the first image's key and a part suffix; another tool's
   * `<id>.json` is not ours) and go first: while the first image remains, a sweep still finds the
   * generation.
   */
  async delete(id: ObjectId): Promise<void> {
    const first = this.key(id);
    let token: string | undefined;
    do {
      const answer = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${first}.`,
          ...(token && { ContinuationToken: token }),
        }),
      );
      const parts = (answer.Contents ?? []).filter(({ Key }) => PART_SUFFIX.test(Key?.slice(first.length) ?? ''));
      await Promise.all(
        parts.map(({ Key }) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))),
      );
      token = answer.IsTruncated ? answer.NextContinuationToken : undefined;
    } while (token);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: first }));
  }

  /**
   * Keys list in UTF-8 byte order, which for 24 lower-case hex digits is id order. Only first images
   * are listed: the other parts' keys are skipped as foreign ones are. Objects under the prefix that
   * are not ours (another tool's, in a shared bucket) are skipped, and S3 is asked again
   * past them until the page is full: a walk that stops at a short page must not stop at one that
   * only foreign objects shortened.
   */
  async list(after: ObjectId | null, limit: number): Promise<StoredImage[]> {
    const found: StoredImage[] = [];
    let startAfter = after ? this.key(after) : undefined;
    while (found.length < limit) {
      const answer = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          MaxKeys: limit,
          ...(startAfter && { StartAfter: startAfter }),
        }),
      );
      const objects = answer.Contents ?? [];
      for (const { Key, LastModified } of objects) {
        const name = Key?.slice(this.prefix.length) ?? '';
        if (ID_KEY.test(name)) found.push({ id: new ObjectId(name), storedAt: LastModified ?? new Date(0) });
      }
      if (!answer.IsTruncated || objects.length === 0) break;
      startAfter = objects.at(-1)!.Key;
    }
    return found.slice(0, limit);
  }

  async presign(id: ObjectId, ttlMs: number, part?: ImagePart): Promise<PresignedUrl | null> {
    const expiresIn = Math.max(1, Math.floor(ttlMs / 1000));
    // The signature names its time in whole seconds and S3 counts the expiry from that second, so
    // sign at a whole second: `expiresAt` is then exactly when S3 starts refusing the URL.
    const signingDate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const url = await getSignedUrl(
      this.signer,
      new GetObjectCommand({ Bucket: this.bucket, Key: this.key(id, part) }),
      {
        expiresIn,
        signingDate,
      },
    );
    return { url, expiresAt: new Date(signingDate.getTime() + expiresIn * 1000) };
  }

  async close(): Promise<void> {
    this.client.destroy();
    if (this.signer !== this.client) this.signer.destroy();
  }
}
