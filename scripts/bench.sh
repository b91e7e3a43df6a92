#!/usr/bin/env bash
# `npm run bench [-- <scenario>...]`: the benchmark harness (bench/run.ts). Prints one table and
# writes bench/results/<time>.json and bench/results/latest.json. See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node --import tsx bench/run.ts "$@"
