/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  // Long reliability scenarios (outages, load, soak) run only in `npm run test:reliability`.
  testPathIgnorePatterns: ['/node_modules/', '\\.slow\\.test\\.ts$'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tests/tsconfig.jest.json', diagnostics: false }] },
  globalSetup: '<rootDir>/tests/support/global-setup.ts',
  globalTeardown: '<rootDir>/tests/support/global-teardown.ts',
  // An upper bound for a loaded 2-core machine, not an expected duration.
  testTimeout: 120000,
  // Collected when --coverage is given (scripts/test.sh does): a summary on the console and
  // coverage/coverage-summary.json, which scripts/test.sh prints per folder.
  collectCoverageFrom: ['src/**/*.ts'],
  coverageProvider: 'v8',
  coverageReporters: ['text-summary', 'json-summary'],
  coverageDirectory: '<rootDir>/coverage',
  maxWorkers: 2,
};
