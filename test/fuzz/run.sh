#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test/fuzz/run.sh -- a bounded libFuzzer run of every fuzz target.
#
# Builds the targets with clang, -fsanitize=fuzzer,address,undefined, into
# their own build directory, then runs each for XMTA_FUZZ_SECONDS over a
# scratch copy of its seed corpus (test/fuzz/corpus/NAME is only read).
# Any crash, leak, sanitizer report or timeout fails the run; the input
# that caused it is printed (hex and base64) and kept in
# BUILD/fuzz-out/NAME/, with the fuzzer's log.
#
# Usage: test/fuzz/run.sh [NAME...]     (default: every target)
# Environment:
#   XMTA_FUZZ_SECONDS  seconds per target (default 25)
#   XMTA_FUZZ_BUILD    build directory (default build-fuzz)
#   XMTA_FUZZ_JOBS     parallel build jobs (default 2)
# To reproduce a crash: BUILD/test/fuzz_NAME CRASH_FILE
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${XMTA_FUZZ_SECONDS:-25}
BUILD=${XMTA_FUZZ_BUILD:-build-fuzz}
JOBS=${XMTA_FUZZ_JOBS:-2}
ALL=(stream conf body fmt fmt_tmpl route)
if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL[@]}")
fi
case $SECS in
'' | *[!0-9]*) echo "fuzz: XMTA_FUZZ_SECONDS must be whole seconds" >&2; exit 2 ;;
esac
for t in "${TARGETS[@]}"; do
    [ -f "test/fuzz/fuzz_$t.c" ] && [ -d "test/fuzz/corpus/$t" ] || {
        echo "fuzz: no target '$t' (known: ${ALL[*]})" >&2
        exit 2
    }
done
command -v clang >/dev/null || { echo "fuzz: clang is missing" >&2; exit 2; }

echo "== fuzz: configure $BUILD (clang, libFuzzer, ASan+UBSan)"
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DXMTA_FUZZ=ON \
    -DXMTA_SANITIZE=ON -DXMTA_TESTS=ON >"$BUILD/fuzz-configure.log" 2>&1 || {
    cat "$BUILD/fuzz-configure.log" >&2
    exit 1
}
echo "== fuzz: build ${TARGETS[*]/#/fuzz_}"
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]/#/fuzz_}" \
    >"$BUILD/fuzz-build.log" 2>&1 || {
    grep -E -B2 -A8 'error|Error' "$BUILD/fuzz-build.log" | head -n 80 >&2
    echo "fuzz: the build failed (log: $BUILD/fuzz-build.log)" >&2
    exit 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
OUT=$BUILD/fuzz-out
FAILED=()
for t in "${TARGETS[@]}"; do
    dir=$OUT/$t
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/crash"
    start=$SECONDS
    rc=0
    # The first corpus directory collects new inputs; the seeds are read.
    # -timeout: one input over 10 s is a hang; -rss_limit_mb: a blow-up.
    "$BUILD/test/fuzz_$t" -max_total_time="$SECS" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/crash/" \
        "$dir/corpus" "test/fuzz/corpus/$t" >"$dir/log" 2>&1 </dev/null ||
        rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
    cov=$(grep -oE 'cov: [0-9]+' "$dir/log" | tail -n 1 || true)
    found=$(find "$dir/crash" -type f | head -n 20)
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        echo "ok - fuzz_$t: ${runs:-?} inputs in $((SECONDS - start)) s," \
            "${cov:-cov: ?}, $(find "$dir/corpus" -type f | wc -l) new"
        continue
    fi
    FAILED+=("$t")
    echo "not ok - fuzz_$t (exit $rc) after $((SECONDS - start)) s; log: $dir/log"
    grep -E -A40 '^==[0-9]+==ERROR|runtime error:|^(round trip|header round|whole)|ERROR: libFuzzer|deadly signal|timeout after' \
        "$dir/log" | head -n 80 | sed 's/^/#   /'
    for f in $found; do
        echo "# crashing input: $f ($(wc -c <"$f") bytes)"
        od -An -c "$f" | head -n 40 | sed 's/^/#   /'
        echo "#   base64: $(base64 -w0 "$f" | head -c 4000)"
        echo "#   reproduce: $BUILD/test/fuzz_$t $f"
    done
done
if [ ${#FAILED[@]} -ne 0 ]; then
    echo "fuzz: FAILED: ${FAILED[*]}"
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, ${SECS} s each, no crash"
