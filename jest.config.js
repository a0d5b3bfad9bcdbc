/** One Jest run for every tier: unit tests, integration tests on real services, and e2e tests. */
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/services', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': tsJest },
  moduleNameMapper: {
    '^@imagegen/shared$': '<rootDir>/packages/shared/src/index.ts',
    '^@imagegen/shared/contract$': '<rootDir>/packages/shared/src/contract.ts',
    '^@imagegen/client$': '<rootDir>/packages/client/src/index.ts',
    '^@imagegen/telemetry$': '<rootDir>/packages/telemetry/src/index.ts',
    '^@imagegen/devstack$': '<rootDir>/packages/devstack/src/index.ts',
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  // Two cores: more workers only contend with the services under test.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
