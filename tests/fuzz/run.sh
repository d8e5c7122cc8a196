#!/usr/bin/env bash
# tests/fuzz/run.sh: builds the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan, every
# finding fatal) straight from the src/*.c files each one needs, then runs each of them, starting
# from its committed seeds (tests/fuzz/corpus/<target>/).
#
#   tests/fuzz/run.sh [build dir, default var/fuzz]
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_JOBS      libFuzzer -fork workers per target (default 0: one process)
#   CC             the compiler (default clang; needs libFuzzer, e.g. clang-14 + libclang-rt-14-dev)
#
# Exits non-zero when a target fails to build or finds a crash, a leak, undefined behaviour, a
# broken invariant (abort()) or an input that runs past 10 s. Crashing inputs are kept as
# <build dir>/<target>-crash-*; the corpora grow in <build dir>/corpus/<target>/, where the seeds
# are copied before each run (a seed changed in the tree replaces its old copy).
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

TARGETS=(fuzz_json_body fuzz_query fuzz_log_format fuzz_jwt fuzz_stripe_sig fuzz_request
         fuzz_bson_json)

# build <target> "<src/*.c files>" "<pkg-config packages>" [more linker flags]
build() {
    local name=$1 srcs=$2 pkgs=$3 files=() f
    shift 3
    for f in $srcs; do files+=("$TOP/src/$f"); done
    echo "run.sh: building $name" >&2
    # shellcheck disable=SC2046 # pkg-config prints several words on purpose
    "$CC" "${CFLAGS[@]}" $(pkg-config --cflags $pkgs) -o "$OUT/$name" \
        "$TOP/tests/fuzz/$name.c" "${files[@]}" $(pkg-config --libs $pkgs) "$@"
}

if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
    "$CC" -fsanitize=fuzzer -x c -o "$OUT/.probe" - 2>/dev/null; then
    echo "run.sh: $CC cannot link -fsanitize=fuzzer" \
        "(Debian 12: apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi
rm -f "$OUT/.probe"

build fuzz_json_body "json.c buf.c str.c clock.c err.c" "json-c"
build fuzz_query "http.c jsonw.c log.c json.c buf.c str.c clock.c err.c" "json-c"
build fuzz_log_format "log.c str.c buf.c clock.c err.c" "json-c"
build fuzz_jwt "jwt.c crypto.c json.c buf.c str.c clock.c err.c" "json-c libcrypto"
build fuzz_stripe_sig "webhook.c crypto.c str.c buf.c err.c" "libcrypto"
# libfcgi ships no pkg-config file everywhere (configure.ac checks it by hand): -lfcgi.
build fuzz_request "server.c metrics.c http.c jsonw.c valid.c log.c json.c buf.c str.c clock.c err.c" "json-c" -lfcgi
# orders.c calls the driver (mongo.c, libmongoc) besides libbson; mongo.c sets Cyrus SASL's
# plugin path itself (lumira_mongo_sasl_early).
build fuzz_bson_json "orders.c mongo.c metrics.c log.c json.c buf.c str.c clock.c err.c" \
    "json-c libmongoc-1.0 libsasl2"

# The committed seeds (tests/fuzz/corpus/<target>/) start each working corpus; what a run adds
# stays in the build dir.
for name in "${TARGETS[@]}"; do
    [ -d "$TOP/tests/fuzz/corpus/$name" ] || { echo "run.sh: no seeds for $name" >&2; exit 2; }
    mkdir -p "$OUT/corpus/$name"
    cp "$TOP/tests/fuzz/corpus/$name"/* "$OUT/corpus/$name/"
done

status=0
for name in "${TARGETS[@]}"; do
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
