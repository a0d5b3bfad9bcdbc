import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goServerEnv, startDaemon, stopChild } from '../src/processes';

describe('the environment of the Go servers devstack starts', () => {
  const saved = process.env.GOGC;
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'go-server-env-'));
  });

  afterEach(() => {
    if (saved === undefined) delete process.env.GOGC;
    else process.env.GOGC = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  /** The GOGC a daemon started with `goServerEnv()` sees. */
  async function gogcSeen(): Promise<string> {
    const out = join(dir, 'gogc');
    const child = await startDaemon(
      'probe',
      'sh',
      ['-c', `printf '%s' "\${GOGC-unset}" > ${out}.tmp && mv ${out}.tmp ${out} && exec sleep 30`],
      join(dir, 'probe.log'),
      async () => readFileSync(out, 'utf8'),
      5_000,
      goServerEnv(),
    );
    try {
      return readFileSync(out, 'utf8');
    } finally {
      await stopChild(child);
    }
  }

  test('when the caller set no GOGC, then the server runs with 400', async () => {
    delete process.env.GOGC;
    expect(await gogcSeen()).toBe('400');
  });

  test("when the caller set a GOGC, then the server runs with the caller's", async () => {
    process.env.GOGC = '150';
    expect(await gogcSeen()).toBe('150');
  });
});
