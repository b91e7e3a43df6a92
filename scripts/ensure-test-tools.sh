#!/usr/bin/env bash
# Debian tools the tests use as independent peers: oathtool (TOTP codes), python3 with
# `cryptography` (an independent AES-GCM), redis-server (tests that stop their own Redis),
# prometheus (promtool checks /metrics and the alert rules; a real Prometheus scrapes the app),
# nginx-light (the repo's deploy/nginx config fronts the app in tests/deploy), chromium and firefox-esr (the console and
# passkey browser tests; the console is checked in both), redis-sentinel (the Sentinel failover tests in tests/reliability).
set -euo pipefail
missing=()
command -v oathtool >/dev/null || missing+=(oathtool)
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || missing+=(prometheus)
{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || missing+=(nginx-light)
command -v chromium >/dev/null || missing+=(chromium)
command -v firefox-esr >/dev/null || missing+=(firefox-esr)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
python3 -c 'import cryptography' 2>/dev/null || missing+=(python3-cryptography)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-test-tools: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then echo "ensure-test-tools: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; fi
  (apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1) || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
