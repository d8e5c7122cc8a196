#!/usr/bin/env bash
# tests/fuzz/run.sh: builds the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan, every
# finding fatal) straight from the src/*.c files each one needs, then runs each of them.
#
#   tests/fuzz/run.sh [build dir, default var/fuzz]
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_JOBS      libFuzzer -fork workers per target (default 0: one process)
#   CC             the compiler (default clang; needs libFuzzer, e.g. clang-14 + libclang-rt-14-dev)
#
# Exits non-zero when a target fails to build or finds a crash, a leak, undefined behaviour, a
# broken invariant (abort()) or an input that runs past 10 s. Crashing inputs are kept as
# <build dir>/<target>-crash-*; the corpora grow in <build dir>/corpus/<target>/.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$TOP/var/fuzz}
SECS=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-0}
CC=${CC:-clang}

case $SECS in
'' | *[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;;
esac
command -v "$CC" >/dev/null || { echo "run.sh: $CC is missing (Debian: clang)" >&2; exit 2; }
command -v pkg-config >/dev/null || { echo "run.sh: pkg-config is missing" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

CFLAGS=(-std=gnu11 -g -O1 -D_GNU_SOURCE -iquote "$TOP/src"
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
        -Wall -Wextra -Wno-unused-parameter)

# build <target> "<src/*.c files>" "<pkg-config packages>"
build() {
    local name=$1 srcs=$2 pkgs=$3 files=() f
    for f in $srcs; do files+=("$TOP/src/$f"); done
    echo "run.sh: building $name" >&2
    # shellcheck disable=SC2046 # pkg-config prints several words on purpose
    "$CC" "${CFLAGS[@]}" $(pkg-config --cflags $pkgs) -o "$OUT/$name" \
        "$TOP/tests/fuzz/$name.c" "${files[@]}" $(pkg-config --libs $pkgs)
}

# seed <target> <file name> <content>: a starting input, written once.
seed() {
    mkdir -p "$OUT/corpus/$1"
    [ -e "$OUT/corpus/$1/$2" ] || printf '%s' "$3" >"$OUT/corpus/$1/$2"
}

if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
    "$CC" -fsanitize=fuzzer -x c -o "$OUT/.probe" - 2>/dev/null; then
    echo "run.sh: $CC cannot link -fsanitize=fuzzer" \
        "(Debian 12: apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi
rm -f "$OUT/.probe"

build fuzz_json_body "json.c buf.c str.c clock.c err.c" "json-c"
build fuzz_query "http.c log.c json.c buf.c str.c clock.c err.c" "json-c"
build fuzz_log_format "log.c str.c buf.c clock.c err.c" "json-c"
build fuzz_jwt "jwt.c crypto.c json.c buf.c str.c clock.c err.c" "json-c libcrypto"
build fuzz_stripe_sig "webhook.c crypto.c str.c buf.c err.c" "libcrypto"

seed fuzz_json_body order '{"level":2,"formData":{"firstName":"Jane","email":"jane@example.com",
"preferences":{"audioVoice":"f"}},"specificQuestion":"caf\u00e9"}'
seed fuzz_json_body types '{"a":1,"b":1.5,"c":"x\u0000y","d":true,"e":null,"f":[1,{"g":[]}],
"h":99999999999999999999,"i":-9223372036854775808}'
seed fuzz_json_body deep '{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":[[[[[[[[1]]]]]]]]}}}}}}}}'
seed fuzz_query list 'page=2&limit=20&status=paid&email=Jane%40Example.com&dateFrom=2026-01-01'
seed fuzz_query odd 'a+b=%41%zz&a&&=x&%=y&email=%00&a%20b=c+d'
seed fuzz_log_format text 'hello "world" \ path'
seed fuzz_log_format bytes $'\x01\x1f\x7f caf\xc3\xa9 \xff\xc0\xaf\xed\xa0\x80'
seed fuzz_log_format uri 'mongodb://user:secret@h1:27017,h2/db?authSource=admin jane@example.com'
# A valid token for the target's secret at its fixed time, a payload (signed by the target) and a
# header and payload (likewise).
seed fuzz_jwt token 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NWExYjJjM2Q0ZTVmNjA3MTgyOTNhNGIiLCJlbWFpbCI6ImphbmVAZXhhbXBsZS5jb20iLCJuYW1lIjoiSmFuZSBEb2UiLCJyb2xlIjoiZXhwZXJ0IiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyNTQ0MDAsImlzcyI6Imx1bWlyYSJ9.awuiEOiasG1Ric0VdguMRUNMunAiRYsEk3pBV0sVikc'
seed fuzz_jwt payload '{"sub":"65a1b2c3d4e5f60718293a4b","email":"jane@example.com","name":"Jane","role":"admin","iat":1767225600,"exp":1767254400,"iss":"lumira"}'
seed fuzz_jwt header $'{"alg":"HS256","typ":"JWT"}\n{"sub":"65a1b2c3d4e5f60718293a4b","email":"a@b.co","name":"N","role":"expert","iat":1767225500,"exp":1767225700,"iss":"lumira"}'
# Stripe-Signature shapes (also the body of the target's own signed header) and the extra items
# after a good signature; X-N8N-Signature shapes.
seed fuzz_stripe_sig header 't=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39'
seed fuzz_stripe_sig items $' v1=00 , t=1 ,scheme=x,v1=,=,v0==\n{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{}}}'
seed fuzz_stripe_sig n8n 'sha256=7Yy8Fl0NBnZXqj8APFPXcGHeW10urtH000zA+o+9XCI='
seed fuzz_stripe_sig n8nhex ' ED8CBC165D0D067657AA3F003C53D77061DE5B5D2EAED1F4D34CC0FA8FBD5C22 '

status=0
for name in fuzz_json_body fuzz_query fuzz_log_format fuzz_jwt fuzz_stripe_sig; do
    echo "run.sh: running $name for ${SECS}s" >&2
    args=(-max_len=65536 -max_total_time="$SECS" -timeout=10 -print_final_stats=1
          -artifact_prefix="$OUT/$name-")
    [ "$JOBS" -gt 0 ] && args+=(-fork="$JOBS" -ignore_crashes=0)
    if ! "$OUT/$name" "${args[@]}" "$OUT/corpus/$name" >"$OUT/$name.log" 2>&1; then
        echo "run.sh: $name FAILED; see $OUT/$name.log and $OUT/$name-*" >&2
        tail -n 40 "$OUT/$name.log" >&2
        status=1
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$OUT/$name.log" |
            sed "s/^/run.sh: $name: /" >&2 || true
    fi
done
[ "$status" -eq 0 ] && echo "run.sh: all fuzz targets ran clean for ${SECS}s each" >&2
exit "$status"
