import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, goServerEnv, startDaemon, stopChild } from './processes';
import type { ProvidedService } from './service';

const BUILD_SCRIPT = resolve(__dirname, '../../../scripts/build-versitygw.sh');
const BUCKET = 'imagegen';
const REGION = 'us-east-1';

/** An S3-compatible bucket and the credentials that reach it. */
export interface S3Access {
  /** Path-style endpoint: `endpoint/bucket/key`. */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export type ProvidedS3 = ProvidedService & { access: S3Access };

/**
 * versitygw (built once from the Go module proxy and cached) serving a directory in `workDir` as
 * S3 on a free port, with keys made up for this run and one empty bucket.
 */
export async function provideS3(workDir: string): Promise<ProvidedS3> {
  const binary = await buildS3Server();
  const port = await freePort();
  const access: S3Access = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: BUCKET,
    region: REGION,
    accessKeyId: randomBytes(10).toString('hex').toUpperCase(),
    secretAccessKey: randomBytes(20).toString('hex'),
  };
  const root = join(workDir, 's3', 'buckets');
  // Content-Type and user metadata go to files beside the data, not to extended attributes, which
  // some filesystems (tmpfs before Linux 6.6, some overlays) refuse and versitygw then won't start.
  const sidecar = join(workDir, 's3', 'metadata');
  mkdirSync(root, { recursive: true });
  mkdirSync(sidecar, { recursive: true });
  const args = [
    ...['--port', `127.0.0.1:${port}`, '--access', access.accessKeyId, '--secret', access.secretAccessKey],
    // Keep-alive is off by default in versitygw: every request then opened a connection of its own
    // and left it in TIME_WAIT, a connect per image read or write that S3 itself does not cost.
    ...['--region', REGION, '--quiet', '--keep-alive'],
    ...['posix', '--sidecar', sidecar, root],
  ];
  // Creating the bucket is the readiness check: it answers once the gateway serves requests.
  const child = await startDaemon(
    'versitygw',
    binary,
    args,
    join(workDir, 'versitygw.log'),
    () => createBucket(access),
    30_000,
    goServerEnv(),
  );
  return {
    access,
    url: access.endpoint,
    description: `versitygw ${binary.match(/versitygw-(v[\d.]+)/)?.[1] ?? ''} on port ${port}`,
    stop: () => stopChild(child),
  };
}

/**
 * The versitygw binary, built from the Go module proxy on its first use on a machine (a minute or
 * two) and taken from the cache after that.
 */
export async function buildS3Server(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('bash', [BUILD_SCRIPT], { env: process.env, maxBuffer: 1 << 20 });
    return stdout.trim().split('\n').at(-1) ?? '';
  } catch (err) {
    throw new Error(`no S3: versitygw could not be built (${(err as Error).message.trim()})`, { cause: err });
  }
}

/**
 * PUT /bucket, signed with AWS Signature V4 by hand: the one request this package makes to S3
 * does not justify the SDK as a dependency.
 */
async function createBucket({ endpoint, bucket, region, accessKeyId, secretAccessKey }: S3Access): Promise<void> {
  const url = new URL(`/${bucket}`, endpoint);
  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const payloadHash = sha256('');
  const headers = { host: url.host, 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate };
  const signedHeaders = Object.keys(headers).join(';');
  const canonical = [
    'PUT',
    url.pathname,
    '',
    ...Object.entries(headers).map(([name, value]) => `${name}:${value}`),
    '',
    signedHeaders,
    payloadHash,
  ].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = [day, region, 's3', 'aws4_request'].reduce<Buffer>(
    (k, part) => hmac(k, part),
    Buffer.from(`AWS4${secretAccessKey}`),
  );
  const signature = hmac(key, toSign).toString('hex');
  const answer = await fetch(url, {
    method: 'PUT',
    headers: {
      'x-amz-content-sha256': payloadHash,
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
  });
  const body = await answer.text();
  // A retried check may find the bucket its earlier try made.
  if (!answer.ok && !body.includes('BucketAlreadyOwnedByYou')) {
    throw new Error(`creating bucket ${bucket} answered ${answer.status}: ${body.slice(0, 300)}`);
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}
