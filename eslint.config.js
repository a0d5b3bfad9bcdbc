// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

module.exports = tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['packages/devstack/**', 'bench/**', 'test/**', '**/test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // The contract is loaded by the playground in a browser and by every install of the client:
    // nothing in it may reach for Node or for a server's drivers. (Its tsconfig also leaves out
    // Node's types, so that a `process` or `Buffer` fails to compile.)
    files: ['packages/shared/src/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex:
                '^(node:|(mongodb|ioredis|bullmq|pino|pino-pretty|undici|express|@imagegen/(core|devstack|telemetry))(/|$))',
              message: 'packages/shared is the contract alone: server code belongs in packages/core.',
            },
          ],
        },
      ],
    },
  },
  {
    // The browser example runs as is in a page, with no build step.
    files: ['examples/browser/**'],
    languageOptions: {
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        EventSource: 'readonly',
        FormData: 'readonly',
        setTimeout: 'readonly',
      },
    },
  },
);
