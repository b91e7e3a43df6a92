#!/usr/bin/env bash
# Builds FerretDB 1.24.2 (the MongoDB-wire server used locally and in tests) into .cache/bin.
# `go install ...@v1.24.2` produces a binary that panics at start because the module
# lacks the generated build/version/version.txt, so we build from a copy of the module
# source with that one file written.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.24.2
BIN=.cache/bin/ferretdb
if [ -x "$BIN" ]; then
  current=$("$BIN" --version 2>/dev/null || true)
  case "$current" in *"version: $VERSION"*) exit 0 ;; esac
fi
command -v go >/dev/null || { echo "build-ferretdb: Go is required to build FerretDB (or set MONGODB_URI)" >&2; exit 1; }
echo "build-ferretdb: building FerretDB $VERSION (first run only)..." >&2
src_dir=$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src_dir" ] || { echo "build-ferretdb: go mod download failed" >&2; exit 1; }
mkdir -p .cache
work=.cache/ferretdb-src
rm -rf "$work"
cp -r "$src_dir" "$work"
chmod -R u+w "$work"
echo "$VERSION" > "$work/build/version/version.txt"
mkdir -p .cache/bin
(cd "$work" && go build -trimpath -o "../bin/ferretdb" ./cmd/ferretdb)
# No `| head` here: under pipefail, head closing the pipe early kills the run with SIGPIPE (exit 141).
version_line=$("$BIN" --version 2>&1 || true)
echo "build-ferretdb: built ${version_line%%$'\n'*}" >&2
