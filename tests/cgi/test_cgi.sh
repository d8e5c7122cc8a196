#!/bin/sh
# The programs as plain CGI programs (API.md: "Every program also answers one request as a plain
# CGI program"), and their start-up checks. Needs no database or network: the URIs point at a
# closed loopback port. Prints TAP.
set -u
B=${LUMIRA_TOP_BUILDDIR:?}/cgi-bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
fails=0

ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}

# run <program> [VAR=value...]: runs one request with a clean environment; output in $T/out,
# log in $T/err, exit status in $rc.
run() {
    prog=$1
    shift
    env -i PATH=/usr/bin:/bin "$@" "$B/$prog" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
}

has() { grep -q -- "$1" "$T/$2"; }

echo "1..14"

run lumira-health REQUEST_METHOD=GET PATH_INFO=/api/health MONGODB_URI=mongodb://127.0.0.1:9/lumira
ok $(test $rc = 0 && has '^Status: 503' out && has '"status":"unhealthy"' out && echo 0 || echo 1) \
    "health as CGI without a database: 503 unhealthy"

run lumira-health REQUEST_METHOD=GET PATH_INFO=/api/health
ok $(has '"database":"disconnected"' out && has '"stripe":"missing"' out && echo 0 || echo 1) \
    "health as CGI without configuration reports what is missing"

run lumira-ready REQUEST_METHOD=GET PATH_INFO=/api/ready MONGODB_URI=mongodb://127.0.0.1:9/lumira \
    STRIPE_SECRET_KEY=sk_test_SECRETXYZ STRIPE_API_BASE=http://127.0.0.1:9
ok $(has '^Status: 503' out && has '^X-Ready-Status: not-ready' out && has '^X-Response-Time: [0-9]*ms' out &&
    has '^Cache-Control: no-cache, no-store, must-revalidate' out && echo 0 || echo 1) \
    "ready as CGI with nothing reachable: 503 not-ready with the three headers"
ok $(! has SECRETXYZ out && ! has SECRETXYZ err && echo 0 || echo 1) "ready never prints the Stripe key"

run lumira-ready REQUEST_METHOD=GET PATH_INFO=/api/ready/verbose LUMIRA_ENV=development \
    MONGODB_URI=mongodb://admin:PASSWORD123@127.0.0.1:9/shop STRIPE_SECRET_KEY=sk_live_SECRETXYZ \
    STRIPE_API_BASE=http://127.0.0.1:9
ok $(has '"database":"shop"' out && has '"mode":"live"' out && ! has PASSWORD123 out &&
    ! has admin: out && ! has SECRETXYZ out && ! has PASSWORD123 err && echo 0 || echo 1) \
    "verbose readiness names host, database and key mode, never credentials"

run lumira-ready REQUEST_METHOD=GET PATH_INFO=/api/ready/verbose
ok $(has '^Status: 403' out && has '"hint":"set LUMIRA_ENV=development"' out && echo 0 || echo 1) \
    "verbose readiness is 403 in production (the default)"

run lumira-ready REQUEST_METHOD=POST PATH_INFO=/api/ready
ok $(has '^Status: 405' out && has '^Allow: GET, HEAD' out && echo 0 || echo 1) "POST is 405 with Allow"

run lumira-ready REQUEST_METHOD=GET PATH_INFO=/api/elsewhere
ok $(has '^Status: 404' out && has '"code":"NOT_FOUND"' out && echo 0 || echo 1) "unknown path is 404"

run lumira-ready REQUEST_METHOD=GET PATH_INFO=/api/ready LUMIRA_ENV=staging
ok $(test $rc = 78 && has 'LUMIRA_ENV' err && test ! -s "$T/out" && echo 0 || echo 1) \
    "a bad LUMIRA_ENV exits 78 naming the variable"

run lumira-health REQUEST_METHOD=GET PATH_INFO=/api/health READY_MONGO_TIMEOUT_MS=2s
ok $(test $rc = 78 && has 'READY_MONGO_TIMEOUT_MS' err && echo 0 || echo 1) \
    "a malformed timeout exits 78 naming the variable"

run lumira-ready REQUEST_METHOD=GET PATH_INFO=/api/ready 'MONGODB_URI=mongodb://u:TOPSECRET@/x?%%%'
ok $(test $rc = 78 && has 'MONGODB_URI' err && ! has TOPSECRET err && echo 0 || echo 1) \
    "an unparsable MONGODB_URI exits 78 without printing it"

run lumira-health REQUEST_METHOD=GET PATH_INFO=/api/health LOG_FILE=/nonexistent-dir/x.log
ok $(test $rc = 78 && has 'LOG_FILE' err && echo 0 || echo 1) "an unwritable LOG_FILE exits 78"

run lumira-health REQUEST_METHOD=GET PATH_INFO=/api/health LOG_FILE="$T/health.log" HTTP_X_REQUEST_ID=cgi-42
ok $(grep -q '"reqId":"cgi-42"' "$T/health.log" && grep -q '"msg":"request"' "$T/health.log" &&
    has '^X-Request-Id: cgi-42' out && echo 0 || echo 1) "the request line goes to LOG_FILE with the request id"

run lumira-health REQUEST_METHOD=GET
ok $(has '^Status: 400' out && echo 0 || echo 1) "a request without a path is 400"

exit 0
