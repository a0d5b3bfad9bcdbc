import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The built package, as the services run it (`pnpm test` builds before Jest runs). */
const SHARED = resolve(__dirname, '..', 'dist', 'index.js');

/**
 * Runs, as its own process, a service whose stop is written to stderr and which runs `bug` just
 * after it has started.
 */
async function runWithBug(bug: string): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'imagegen-lifecycle-'));
  const script = join(dir, 'service.js');
  writeFileSync(
    script,
    `
const { runService } = require(${JSON.stringify(SHARED)});
runService(
  'test-service',
  () => ({ LOG_LEVEL: 'info', LOG_FORMAT: 'json', SHUTDOWN_TIMEOUT_MS: 5000 }),
  async () => {
    setTimeout(() => { ${bug} }, 50);
    return { stop: async () => { process.stderr.write('stop called\\n'); } };
  },
);
`,
  );
  try {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    return { code, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('runService: process-level failures', () => {
  test.each([
    [
      'an exception nobody catches',
      "throw new Error('boom in a timer')",
      'uncaught exception; stopping',
      'boom in a timer',
    ],
    [
      'a rejection nobody handles',
      "void Promise.reject(new Error('lost promise'))",
      'unhandled promise rejection; stopping',
      'lost promise',
    ],
  ])(
    'when %s escapes, then it is logged as fatal, the service stops as on SIGTERM, and the process exits 1',
    async (_label, bug, message, said) => {
      const { code, output } = await runWithBug(bug);
      const fatal = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } })
        .find((record) => record.msg === message);
      expect(fatal).toMatchObject({ level: 60, err: { message: said } });
      expect(output).toContain('stop called');
      expect(code).toBe(1);
    },
  );
});
