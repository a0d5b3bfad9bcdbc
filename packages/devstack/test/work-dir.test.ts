import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { makeWorkDir } from '../src/work-dir';

describe("the stack's own directory", () => {
  // Stands in for /dev/shm: a directory whose room statfs reads like any other's.
  let memory: string;
  const made: string[] = [];

  beforeEach(() => {
    memory = mkdtempSync(join(tmpdir(), 'work-dir-test-'));
  });

  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    rmSync(memory, { recursive: true, force: true });
  });

  const make = (bytes: number) => {
    const dir = makeWorkDir(bytes, memory);
    made.push(dir);
    return dir;
  };

  test('when no memory is asked for, then it is made on disk, in the temporary directory', () => {
    const dir = make(0);
    expect(dirname(dir)).toBe(tmpdir());
    expect(existsSync(dir)).toBe(true);
  });

  test('when memory is asked for and there is room, then it is made there, named with this process', () => {
    const dir = make(1024);
    expect(dirname(dir)).toBe(memory);
    expect(basename(dir).startsWith(`imagegen-stack-${process.pid}-`)).toBe(true);
  });

  test('when there is not room for what the run will store, then it is made on disk instead', () => {
    expect(dirname(make(Number.MAX_SAFE_INTEGER))).toBe(tmpdir());
  });

  test('when a killed run left its directory in memory, then the next run that asks for memory removes it and no other', () => {
    // No pid reaches 999999999 (Linux's pid_max is at most 4194304): a run that is gone.
    const abandoned = join(memory, 'imagegen-stack-999999999-abc123');
    const live = join(memory, `imagegen-stack-${process.pid}-def456`);
    const someoneElses = join(memory, 'not-ours-999999999');
    for (const dir of [abandoned, live, someoneElses]) mkdirSync(dir);
    make(1024);
    expect(existsSync(abandoned)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(someoneElses)).toBe(true);
  });
});
