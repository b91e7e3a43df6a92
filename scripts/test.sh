#!/usr/bin/env bash
# README quick start, line 2 (and CI): install what is needed, then type check, lint and run every test
# against real servers (FerretDB and Redis are started by the jest global setup when not running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-test-tools.sh
bash scripts/build-ferretdb.sh
# Test peers built once into .cache/bin, before jest so no test waits for a build: the S3 server
# (required) and mongo-tools (optional: without them the interop tests skip with their reason).
bash scripts/ensure-versitygw.sh
bash scripts/ensure-mongo-tools.sh >/dev/null || echo "== mongo-tools unavailable: the backup interop tests will be skipped"
echo "== typecheck" && npx tsc --noEmit -p tsconfig.json && npx tsc -p console/tsconfig.json
echo "== format" && npx prettier --check . --log-level warn
echo "== lint" && npx eslint . --max-warnings 0
echo "== generated docs up to date" && npx tsx scripts/gen-env-example.ts --check && npx tsx scripts/gen-permission-table.ts --check && npx tsx scripts/gen-openapi.ts --check && npx tsx scripts/validate-openapi.ts
echo "== security checklist references" && npx tsx scripts/check-security-checklist.ts
echo "== tests"
mkdir -p .cache
set +e
npx jest --ci --json --outputFile=.cache/jest-results.json --coverage "$@"
status=$?
set -e
# CI reads the first line this prints (`jest: N passed, N failed, N skipped`); a skipped or
# todo test fails the run unless tests/skip-allowlist.json lists it with a reason.
npx tsx tests/tools/jest-summary.ts .cache/jest-results.json tests/skip-allowlist.json || status=1
echo "== coverage by folder (coverage/coverage-summary.json; no threshold)"
npx tsx tests/tools/coverage-by-folder.ts coverage/coverage-summary.json || true
exit $status
