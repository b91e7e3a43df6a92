#!/usr/bin/env bash
# Post-deployment checks of docs/PRODUCTION_DEPLOYMENT.md against a running deployment.
#
#   scripts/verify-deployment.sh [--cacert FILE] [--http-url URL] [--rate-limit-max N] BASE_URL
#
#   BASE_URL          the public HTTPS origin, e.g. https://erp.example.com
#   --cacert FILE     trust this CA (a private or test CA) instead of the system store
#   --http-url URL    the plain-HTTP origin to test the redirect on (default: BASE_URL with http://, port 80)
#   --rate-limit-max  how many failed logins to send before giving up on seeing 429 (default 30)
#   VERIFY_LOGIN_EMAIL, VERIFY_LOGIN_PASSWORD (environment): an account to sign in with (the
#                     password is passed to curl on stdin, never on its command line)
#
# Prints one `PASS name: detail` or `FAIL name: detail` line per check and exits 1 when any
# check failed (2 on bad usage). Needs bash and curl (built with OpenSSL) only.
set -uo pipefail

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cacert=""
http_url=""
rate_limit_max=30
base_url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cacert) cacert="${2:-}"; shift 2 ;;
    --http-url) http_url="${2:-}"; shift 2 ;;
    --rate-limit-max) rate_limit_max="${2:-}"; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "verify-deployment: unknown option $1" >&2; usage ;;
    *) [ -z "$base_url" ] || usage; base_url="$1"; shift ;;
  esac
done
[ -n "$base_url" ] || usage
base_url="${base_url%/}"
case "$base_url" in https://*) ;; *) echo "verify-deployment: BASE_URL must start with https://" >&2; exit 2 ;; esac
[[ "$rate_limit_max" =~ ^[0-9]+$ ]] || usage
if [ -n "$cacert" ] && [ ! -r "$cacert" ]; then echo "verify-deployment: cannot read $cacert" >&2; exit 2; fi
command -v curl >/dev/null || { echo "verify-deployment: curl is required" >&2; exit 2; }

authority="${base_url#https://}"
authority="${authority%%/*}"
host="${authority%:*}"
[[ "$authority" == \[* ]] && host="${authority%]*}]"
[ -n "$http_url" ] || http_url="http://$host"
http_url="${http_url%/}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

curl_tls=(--silent --show-error --max-time 20 --proto '=https,http')
[ -n "$cacert" ] && curl_tls+=(--cacert "$cacert")

passed=0
failed=0
pass() { echo "PASS $1: $2"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# header NAME FILE: the values of a response header (one per line, CR stripped), last response only.
header() { tr -d '\r' <"$2" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" '
  /^HTTP\// { count = 0 }
  { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); out[++count] = v } }
  END { for (j = 1; j <= count; j++) print out[j] }'; }

# get PATH NAME: GET over HTTPS into $work/NAME.{headers,body}; prints the status (000 when unreachable).
get() {
  curl "${curl_tls[@]}" -o "$work/$2.body" -D "$work/$2.headers" -w '%{http_code}' "$base_url$1" 2>"$work/$2.err" || true
}

json_escape() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\r'/\\r}"
  s="${s//$'\t'/\\t}"
  printf '%s' "$s"
}

# post_login EMAIL PASSWORD NAME: POST the login body from stdin; prints the status.
post_login() {
  printf '{"email":"%s","password":"%s"}' "$(json_escape "$1")" "$(json_escape "$2")" |
    curl "${curl_tls[@]}" -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' \
      --data-binary @- -o "$work/$3.body" -D "$work/$3.headers" -w '%{http_code}' \
      "$base_url/api/v1/auth/login" 2>"$work/$3.err" || true
}

# --- 1. plain HTTP answers with a permanent redirect to the same path over HTTPS
out="$(curl --silent --max-time 20 -o /dev/null -w '%{http_code} %{redirect_url}' "$http_url/health/live?probe=1" 2>/dev/null || true)"
status="${out%% *}"
location="${out#* }"
if [[ "$status" =~ ^(301|308)$ ]] && [[ "$location" == "https://$host"* ]] && [[ "$location" == *"/health/live?probe=1" ]]; then
  pass http-redirect "$http_url -> $status $location"
else
  fail http-redirect "$http_url/health/live answered '${out:-nothing}' (want 301/308 to https://$host/health/live?probe=1)"
fi

# --- 2. TLS versions: 1.0 and 1.1 refused by the server, 1.2 and 1.3 accepted.
# @SECLEVEL=0 lets this client offer the old versions, so a refusal is the server's.
for version in 1.0 1.1; do
  curl "${curl_tls[@]}" --tlsv"$version" --tls-max "$version" --ciphers 'DEFAULT:@SECLEVEL=0' \
    -o /dev/null "$base_url/health/live" 2>"$work/tls$version.err"
  rc=$?
  if [ "$rc" -eq 35 ]; then
    pass "tls-$version-refused" "handshake refused ($(head -c 120 "$work/tls$version.err" | tr -d '\n'))"
  elif [ "$rc" -eq 0 ]; then
    fail "tls-$version-refused" "the server completed a TLS $version handshake"
  else
    fail "tls-$version-refused" "curl exit $rc: $(head -c 160 "$work/tls$version.err" | tr -d '\n')"
  fi
done
for version in 1.2 1.3; do
  got="$(curl "${curl_tls[@]}" --tlsv"$version" --tls-max "$version" -o /dev/null -w '%{http_code}' \
    "$base_url/health/live" 2>"$work/tls$version.err")"
  rc=$?
  if [ "$rc" -eq 0 ] && [ "$got" = 200 ]; then
    pass "tls-$version-accepted" "HTTP $got over TLS $version"
  else
    fail "tls-$version-accepted" "curl exit $rc, HTTP ${got:-none}: $(head -c 160 "$work/tls$version.err" | tr -d '\n')"
  fi
done

# --- 3. security headers (MDN HTTP Observatory A+ inputs) on an ordinary answer
status="$(get /health/live live)"
if [ "$status" = 000 ]; then
  fail headers "no answer from $base_url/health/live: $(head -c 160 "$work/live.err" | tr -d '\n')"
else
  h="$work/live.headers"
  hsts="$(header Strict-Transport-Security "$h")"
  max_age="$(echo "$hsts" | sed -n 's/.*max-age=\([0-9]*\).*/\1/Ip' | head -n1)"
  if [ "$(echo "$hsts" | grep -c .)" -eq 1 ] && [ -n "$max_age" ] && [ "$max_age" -ge 15552000 ]; then
    pass hsts "$hsts"
  else
    fail hsts "want exactly one Strict-Transport-Security with max-age >= 15552000 (6 months), got '${hsts//$'\n'/ | }'"
  fi

  csp="$(header Content-Security-Policy "$h")"
  if [ -z "$csp" ]; then
    fail csp "no Content-Security-Policy"
  elif echo "$csp" | grep -Eqi "unsafe-|(^|[ ;])(\*|data:|http:|https:)([ ;]|$)"; then
    fail csp "unsafe or scheme-wide source in '$csp'"
  elif ! echo "$csp" | grep -Eqi "default-src +'(none|self)'"; then
    fail csp "default-src is not 'none' or 'self' in '$csp'"
  else
    pass csp "$csp"
  fi

  nosniff="$(header X-Content-Type-Options "$h")"
  [ "$(echo "$nosniff" | tr 'A-Z' 'a-z')" = nosniff ] && pass nosniff "X-Content-Type-Options: $nosniff" ||
    fail nosniff "X-Content-Type-Options is '${nosniff}' (want nosniff)"

  xfo="$(header X-Frame-Options "$h" | tr 'a-z' 'A-Z')"
  if echo "$csp" | grep -Eqi "frame-ancestors +'(none|self)'" || [[ "$xfo" =~ ^(DENY|SAMEORIGIN)$ ]]; then
    pass frame-protection "X-Frame-Options: ${xfo:-none}; CSP frame-ancestors: $(echo "$csp" | grep -Eoi "frame-ancestors [^;]*" || echo none)"
  else
    fail frame-protection "neither CSP frame-ancestors 'none'/'self' nor X-Frame-Options DENY/SAMEORIGIN"
  fi

  referrer="$(header Referrer-Policy "$h" | tr 'A-Z' 'a-z' | tr -d ' ')"
  if [[ ",$referrer," =~ ,(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin), ]]; then
    pass referrer-policy "$referrer"
  else
    fail referrer-policy "Referrer-Policy is '${referrer}' (want no-referrer, same-origin or strict-origin[-when-cross-origin])"
  fi

  corp="$(header Cross-Origin-Resource-Policy "$h" | tr 'A-Z' 'a-z')"
  [[ "$corp" =~ ^(same-origin|same-site)$ ]] && pass corp "Cross-Origin-Resource-Policy: $corp" ||
    fail corp "Cross-Origin-Resource-Policy is '${corp}' (want same-origin or same-site)"

  server="$(header Server "$h")"
  powered="$(header X-Powered-By "$h")"
  if echo "$server" | grep -q '[0-9]' || [ -n "$powered" ]; then
    fail server-version "Server: '${server}', X-Powered-By: '${powered}' (no version or framework may show)"
  else
    pass server-version "Server: ${server:-absent}, no X-Powered-By"
  fi
fi

# --- 4. health endpoints
[ "$status" = 200 ] && grep -q '"status":"pass"' "$work/live.body" &&
  pass health-live "GET /health/live -> 200 $(head -c 80 "$work/live.body")" ||
  fail health-live "GET /health/live -> $status $(head -c 160 "$work/live.body" 2>/dev/null)"

status="$(get /health/ready ready)"
[ "$status" = 200 ] && pass health-ready "GET /health/ready -> 200" ||
  fail health-ready "GET /health/ready -> $status $(head -c 300 "$work/ready.body" 2>/dev/null)"

status="$(get /health health)"
leaks="$(grep -Eo '"(version|releaseId|serviceId|observedValue|observedUnit|output|details|componentId|time)"' "$work/health.body" 2>/dev/null | sort -u | tr '\n' ' ')"
if [ "$status" = 200 ] && grep -q '"status"' "$work/health.body" && [ -z "$leaks" ]; then
  pass health-anonymous "GET /health -> 200, status and check names only"
else
  fail health-anonymous "GET /health -> $status; internals shown: ${leaks:-none} $(head -c 160 "$work/health.body" 2>/dev/null)"
fi

# --- 5. a real sign-in
if [ -z "${VERIFY_LOGIN_EMAIL:-}" ] || [ -z "${VERIFY_LOGIN_PASSWORD:-}" ]; then
  fail login "set VERIFY_LOGIN_EMAIL and VERIFY_LOGIN_PASSWORD to an account of this deployment"
else
  status="$(post_login "$VERIFY_LOGIN_EMAIL" "$VERIFY_LOGIN_PASSWORD" login)"
  body="$(cat "$work/login.body" 2>/dev/null)"
  if [[ "$status" =~ ^(200|202)$ ]] && [[ "$body" == *'"accessToken"'* || "$body" == *'"mfaRequired":true'* ]]; then
    detail="POST /api/v1/auth/login -> $status"
    [[ "$body" == *'"mfaRequired":true'* ]] && detail="$detail (second factor required)"
    token="$(echo "$body" | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')"
    if [ -n "$token" ]; then
      # End the session the check opened (token on stdin via a header file, not on the command line).
      printf 'Authorization: Bearer %s\n' "$token" >"$work/auth.header"
      out="$(curl "${curl_tls[@]}" -X POST -H @"$work/auth.header" -o /dev/null -w '%{http_code}' \
        "$base_url/api/v1/auth/logout" 2>/dev/null || true)"
      rm -f "$work/auth.header"
      detail="$detail, session ended (logout $out)"
    fi
    pass login "$detail"
  else
    fail login "POST /api/v1/auth/login -> $status $(head -c 200 "$work/login.body" 2>/dev/null)"
  fi
fi

# --- 6. the app's rate limiting answers 429 with Retry-After and RateLimit headers.
# Failed sign-ins of an account that does not exist: the real accounts' counters are untouched.
probe="verify-deployment-$RANDOM$RANDOM@example.invalid"
limited=""
for ((i = 1; i <= rate_limit_max; i++)); do
  status="$(post_login "$probe" "not-the-password-$RANDOM" rl)"
  if [ "$status" = 429 ]; then limited="$i"; break; fi
  [[ "$status" =~ ^(401|403)$ ]] || break
done
if [ -z "$limited" ]; then
  fail rate-limit "no 429 after $i failed sign-ins (last status $status)"
else
  retry="$(header Retry-After "$work/rl.headers")"
  ratelimit="$(header RateLimit "$work/rl.headers")$(header RateLimit-Policy "$work/rl.headers")"
  ctype="$(header Content-Type "$work/rl.headers")"
  if [[ "$retry" =~ ^[0-9]+$ ]] && [ -n "$ratelimit" ] && [[ "$ctype" == application/problem+json* ]]; then
    pass rate-limit "429 after $limited failed sign-ins, Retry-After: $retry, RateLimit: $(header RateLimit "$work/rl.headers" | paste -sd ',' - | sed 's/,/, /g')"
  else
    fail rate-limit "429 after $limited tries but Retry-After '$retry', RateLimit headers '${ratelimit}', Content-Type '$ctype' (want seconds, draft-8 headers, problem+json)"
  fi
fi

echo "verify-deployment: $passed passed, $failed failed ($base_url)"
[ "$failed" -eq 0 ]
