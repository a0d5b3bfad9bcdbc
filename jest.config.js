/** One Jest run for every tier: unit tests, integration tests on real services, and e2e tests. */
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/services', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': tsJest },
  // Workspace packages resolve to their TypeScript sources (package.json `exports`), so no package
  // is built before a test runs; the built services that e2e tests spawn use the compiled ones.
  testEnvironmentOptions: { customExportConditions: ['node', 'node-addons', '@imagegen/source'] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  // Two cores: more workers only contend with the services under test.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
