#!/usr/bin/env bash
# Finds MongoDB Database Tools (mongodump, mongorestore, bsondump) for the backup interop tests
# and prints the directory holding them. Order: tools on PATH, then MONGO_TOOLS_BIN, then a build
# from MONGO_TOOLS_SRC (default: /work/shared/peers/mongo-tools-100.13.0-src.tar.gz when present)
# into .cache/bin (skipped when already built). Exits 2 with a one-line reason when none can be had.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=(mongodump mongorestore bsondump)
VERSION=100.13.0
COMMIT=23008ff975be028544710a5da6ae749dc7e90ab7

has_all() { for t in "${TOOLS[@]}"; do [ -x "$1/$t" ] || return 1; done; }

if command -v mongorestore >/dev/null 2>&1; then
  dir=$(dirname "$(command -v mongorestore)")
  if has_all "$dir"; then echo "$dir"; exit 0; fi
fi
if [ -n "${MONGO_TOOLS_BIN:-}" ] && has_all "$MONGO_TOOLS_BIN"; then echo "$MONGO_TOOLS_BIN"; exit 0; fi

BIN="$PWD/.cache/bin"
if has_all "$BIN"; then echo "$BIN"; exit 0; fi

SRC_TGZ="${MONGO_TOOLS_SRC:-}"
if [ -z "$SRC_TGZ" ] && [ -f /work/shared/peers/mongo-tools-$VERSION-src.tar.gz ]; then
  SRC_TGZ=/work/shared/peers/mongo-tools-$VERSION-src.tar.gz
fi
[ -n "$SRC_TGZ" ] || { echo "ensure-mongo-tools: no mongo tools on PATH, no MONGO_TOOLS_BIN, no MONGO_TOOLS_SRC" >&2; exit 2; }
[ -f "$SRC_TGZ" ] || { echo "ensure-mongo-tools: MONGO_TOOLS_SRC not found: $SRC_TGZ" >&2; exit 2; }
command -v go >/dev/null || { echo "ensure-mongo-tools: Go is required to build mongo-tools from $SRC_TGZ" >&2; exit 2; }

mkdir -p "$BIN"
# Build in a private directory and move each binary into place, so concurrent callers never see a half-written tool.
work=$(mktemp -d "${TMPDIR:-/tmp}/mongo-tools-src.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$SRC_TGZ" -C "$work"
src="$work"
[ -f "$src/go.mod" ] || src=$(dirname "$(find "$work" -maxdepth 2 -name go.mod | head -n1)")
echo "ensure-mongo-tools: building mongo-tools $VERSION into $BIN (first run only)..." >&2
for t in "${TOOLS[@]}"; do
  (cd "$src" && CGO_ENABLED=0 go build -mod=vendor -trimpath \
    -ldflags "-X main.VersionStr=$VERSION -X main.GitCommit=$COMMIT" -o "$work/out-$t" "./$t/main")
  mv -f "$work/out-$t" "$BIN/$t"
done
echo "$BIN"
