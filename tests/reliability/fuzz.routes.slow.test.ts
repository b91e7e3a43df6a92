/**
 * The wide run of tests/reliability/fuzz.routes.test.ts for `npm run test:reliability`: the same
 * suite with 15 generated requests per route and caller (CI runs 4) within 6 minutes per caller. About 10 minutes on a loaded 2-core machine. FUZZ_RUNS / FUZZ_SEED still override.
 */
process.env.FUZZ_RUNS ??= '15';
process.env.FUZZ_BUDGET_MS ??= '360000';
// Loaded after the settings above (an import would be hoisted before them).
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./fuzz.routes.test');
