import { rmSync } from 'node:fs';
import { provideMongo } from './mongo';
import { provideRedis } from './redis';
import { provideS3, type S3Access } from './s3';
import { makeWorkDir } from './work-dir';

export interface Stack {
  redisUrl: string;
  /** Server URI without a database; callers pick their database. */
  mongoUri: string;
  /** A bucket of its own on versitygw, when asked for. */
  s3: S3Access | null;
  /** One line per service saying which one is used. */
  descriptions: string[];
  workDir: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Also an S3-compatible server (the tests always want one, `./dev start` only for IMAGE_STORE=s3). */
  s3?: boolean;
  /** Bytes the run will store in the stack's files; with room for them in memory, they are kept there (`makeWorkDir`). */
  memoryBytes?: number;
}

/** The real services the system needs, reused when present and started when missing. */
export async function startStack({ s3 = false, memoryBytes = 0 }: StackOptions = {}): Promise<Stack> {
  const workDir = makeWorkDir(memoryBytes);
  const redis = await provideRedis(workDir);
  // Both may be built from source on a machine's first run: side by side, the slower one sets the wait.
  const [mongo, bucket] = await Promise.allSettled([provideMongo(workDir), s3 ? provideS3(workDir) : null]);
  const started = [redis, ...[mongo, bucket].flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value] : []))];
  const stopAll = async () => {
    await Promise.all(started.map((service) => service.stop()));
    rmSync(workDir, { recursive: true, force: true });
  };
  if (mongo.status === 'rejected' || bucket.status === 'rejected') {
    await stopAll();
    throw mongo.status === 'rejected' ? mongo.reason : (bucket as PromiseRejectedResult).reason;
  }
  return {
    redisUrl: redis.url,
    mongoUri: mongo.value.url,
    s3: bucket.value?.access ?? null,
    descriptions: [
      `Redis: ${redis.description}`,
      `MongoDB: ${mongo.value.description}`,
      ...(bucket.value ? [`S3: ${bucket.value.description}`] : []),
      `Files: ${workDir}`,
    ],
    workDir,
    stop: stopAll,
  };
}
/** `uri` with its path set to `database`, keeping any credentials and options. */
export function withDatabase(uri: string, database: string): string {
  const url = new URL(uri);
  url.pathname = `/${database}`;
  return url.toString();
}
