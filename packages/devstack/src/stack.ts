import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provideMongo } from './mongo';
import { provideRedis } from './redis';

export interface Stack {
  redisUrl: string;
  /** Server URI without a database; callers pick their database. */
  mongoUri: string;
  /** One line per service saying which one is used. */
  descriptions: string[];
  workDir: string;
  stop(): Promise<void>;
}

/** The real services the system needs, reused when present and started when missing. */
export async function startStack(): Promise<Stack> {
  const workDir = mkdtempSync(join(tmpdir(), 'imagegen-stack-'));
  const redis = await provideRedis(workDir);
  try {
    const mongo = await provideMongo(workDir);
    return {
      redisUrl: redis.url,
      mongoUri: mongo.url,
      descriptions: [`Redis: ${redis.description}`, `MongoDB: ${mongo.description}`],
      workDir,
      async stop() {
        await Promise.all([redis.stop(), mongo.stop()]);
        rmSync(workDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await redis.stop();
    throw err;
  }
}

/** `uri` with its path set to `database`, keeping any credentials and options. */
export function withDatabase(uri: string, database: string): string {
  const url = new URL(uri);
  url.pathname = `/${database}`;
  return url.toString();
}
