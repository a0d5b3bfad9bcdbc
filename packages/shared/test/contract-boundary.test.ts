import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');

const ESLINT = resolve(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

/** The lint messages for `code` as if it were a file of the contract's source, from the project's own ESLint run. */
function lintAsContract(code: string): string[] {
  const run = spawnSync(
    process.execPath,
    [ESLINT, '--format', 'json', '--stdin', '--stdin-filename', 'packages/shared/src/probe.ts'],
    { cwd: ROOT, input: code, encoding: 'utf8' },
  );
  const [result] = JSON.parse(run.stdout) as { messages: { ruleId: string | null; message: string }[] }[];
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the contract stays free of server code', () => {
  test.each([
    "import { readFileSync } from 'node:fs';",
    "import { MongoClient } from 'mongodb';",
    "import { Redis } from 'ioredis';",
    "import pino from 'pino';",
    "import { Queue } from 'bullmq';",
    "import { createLogger } from '@imagegen/core';",
  ])('when a contract file has %s, then lint fails and points at packages/core', (line) => {
    const messages = lintAsContract(`${line}\nexport const x = 1;\n`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('packages/core');
  });

  test('when a contract file imports zod and its own modules, then lint has nothing to say', async () => {
    expect(
      await lintAsContract(
        "import { z } from 'zod';\nimport { Text } from './text';\nexport const x = z.object({ t: Text });\n",
      ),
    ).toEqual([]);
  });

  test('when the package is installed, then zod is the one dependency it brings', () => {
    const manifest = JSON.parse(readFileSync(resolve(__dirname, '..', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).toEqual(['zod']);
  });
});
