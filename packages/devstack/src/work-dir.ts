import { mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { running } from './processes';

/** A tmpfs on Linux: files there are kept in memory. */
const MEMORY = '/dev/shm';
const PREFIX = 'imagegen-stack-';

/**
 * A directory of the stack's own for its files: the S3 bucket, FerretDB's SQLite, the logs. With
 * `memoryBytes`, in memory when /dev/shm has that much room, else on disk like any other.
 *
 * A run that stores many images asks for memory: on disk, creating each object's files was a
 * quarter of versitygw's CPU (ext4 allocating inodes), and the bench's memory part, 1,000 jobs of
 * 1 MB, took 10 % more of the machine's CPU than with the same files in memory.
 *
 * A run killed before it could remove its directory leaves it in memory until the machine
 * restarts; the next run that asks for memory removes those whose process is gone, as it can tell
 * by the pid in their name.
 */
export function makeWorkDir(memoryBytes = 0, memory = MEMORY): string {
  if (memoryBytes > 0 && roomIn(memory) >= memoryBytes) {
    removeAbandoned(memory);
    return mkdtempSync(join(memory, `${PREFIX}${process.pid}-`));
  }
  return mkdtempSync(join(tmpdir(), PREFIX));
}

function roomIn(dir: string): number {
  try {
    const { bavail, bsize } = statfsSync(dir);
    return bavail * bsize;
  } catch {
    return 0;
  }
}

function removeAbandoned(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = Number(name.startsWith(PREFIX) ? name.slice(PREFIX.length).split('-')[0] : NaN);
    if (Number.isInteger(pid) && !running(pid)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}
