#!/usr/bin/env bash
# Builds the S3 test peer (versitygw v1.7.0) into .cache/bin once; the S3 tests start it per test file.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.cache/bin/versitygw"
if [ -x "$BIN" ]; then exit 0; fi
if [ -n "${VERSITYGW_BIN:-}" ] && [ -x "$VERSITYGW_BIN" ]; then ln -sf "$VERSITYGW_BIN" "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "ensure-versitygw: go is not installed" >&2; exit 1; }
mkdir -p "$PWD/.cache/bin"
echo "ensure-versitygw: building versitygw v1.7.0 (once)" >&2
CGO_ENABLED=0 GOBIN="$PWD/.cache/bin" go install github.com/versity/versitygw/cmd/versitygw@v1.7.0
