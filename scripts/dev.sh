#!/usr/bin/env bash
# README quick start, line 1: install, bring up MongoDB-wire + Redis, run the API on 127.0.0.1:3000 in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if [ -f .env ]; then set -a; . ./.env; set +a; fi
# Also records the URLs in .data/local-services.json for `npm run cli` in another terminal.
# Assigned first: a failure inside $(...) passed straight to eval would be ignored.
services=$(node_modules/.bin/tsx scripts/local-services-cli.ts)
eval "$services"
npm run --silent build
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-3000}"
echo "erp-backend: http://$HOST:$PORT (Ctrl-C stops it; MONGODB_URI=$MONGODB_URI REDIS_URL=$REDIS_URL)" >&2
exec node dist/server.js
