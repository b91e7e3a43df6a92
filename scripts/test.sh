#!/usr/bin/env bash
# README quick start, line 2 (and CI): install what is needed, then type check, lint and run every test
# against real servers (FerretDB and Redis are started by the jest global setup when not running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-test-tools.sh
bash scripts/build-ferretdb.sh
echo "== typecheck" && npx tsc --noEmit -p tsconfig.json
echo "== format" && npx prettier --check . --log-level warn
echo "== lint" && npx eslint . --max-warnings 0
echo "== generated docs up to date" && npx tsx scripts/gen-env-example.ts --check && npx tsx scripts/gen-permission-table.ts --check
echo "== tests"
mkdir -p .cache
set +e
npx jest --ci --json --outputFile=.cache/jest-results.json "$@"
status=$?
set -e
node -e '
  const r = require("./.cache/jest-results.json");
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) { console.error("no tests ran"); process.exit(1); }
' || status=1
exit $status
