#!/usr/bin/env bash
# Runs every benchmark under bench/ (each prints its figures and ratios against targets).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
status=0
for f in bench/*.bench.ts; do
  [ -e "$f" ] || continue
  echo "== $f"
  node --import tsx "$f" || status=1
done
exit $status
