/**
 * `npm run test:reliability`: the whole reliability suite (tests/reliability/), including the
 * `*.slow.test.ts` scenarios (long outages, load and soak) that the default run (CI) leaves out.
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/tests/reliability'],
  testPathIgnorePatterns: ['/node_modules/'],
  // Long scenarios hold servers down for tens of seconds; one file at a time keeps their figures honest.
  maxWorkers: 1,
  testTimeout: 15 * 60 * 1000,
};
