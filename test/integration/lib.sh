#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lib.sh -- shared helpers of the integration scripts: TAP-like checks,
# background processes that are always cleaned up, bounded waits, xmta
# under valgrind (XMTA_VALGRIND=1).

IT_PASSED=0
IT_FAILED=0
IT_PIDS=()

ok() {
    IT_PASSED=$((IT_PASSED + 1))
    echo "ok - $*"
}

not_ok() {
    IT_FAILED=$((IT_FAILED + 1))
    echo "not ok - $*"
}

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then
        ok "$what"
    else
        not_ok "$what"
    fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" == "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        printf '#   expected: %q\n#   got:      %q\n' "$2" "$3"
    fi
}

it_summary() {
    it_valgrind_report
    echo "$IT_PASSED passed, $IT_FAILED failed"
    [ "$IT_FAILED" -eq 0 ]
}

# Remembers a background PID so that it_kill_all stops it.
it_track() {
    IT_PIDS+=("$1")
}

# Stops one tracked process: SIGTERM, up to 5 s (30 s under valgrind,
# which checks for leaks at exit), then SIGKILL.
it_kill() {
    local pid=$1 i n=50
    kill -0 "$pid" 2>/dev/null || return 0
    [ "${XMTA_VALGRIND:-0}" = 1 ] && n=300
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < n; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

it_kill_all() {
    local pid
    for pid in "${IT_PIDS[@]}"; do
        it_kill "$pid"
    done
    IT_PIDS=()
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Waits (bounded, $2 seconds) until 127.0.0.1:$1 accepts connections.
port_wait() {
    local port=$1 secs=${2:-30} i
    for ((i = 0; i < secs * 10; i++)); do
        port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}

# wait_for_line FILE TEXT SECONDS [PID]: until FILE has a line equal to
# TEXT; gives up early when PID (if given) has exited.
wait_for_line() {
    local file=$1 text=$2 secs=$3 pid=${4:-} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qxF -- "$text" "$file" 2>/dev/null && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            grep -qxF -- "$text" "$file" 2>/dev/null
            return
        fi
        sleep 0.1
    done
    return 1
}

# wait_pid PID SECONDS: waits for a background child to exit (bounded);
# returns its exit status, or 124 on timeout (the process is then killed).
wait_pid() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            return
        fi
        sleep 0.1
    done
    it_kill "$pid"
    return 124
}

# count_lines FILE: number of lines (0 if FILE is missing).
count_lines() {
    if [ -f "$1" ]; then
        wc -l <"$1" | tr -d ' '
    else
        echo 0
    fi
}

# wait_lines FILE N SECONDS: until FILE has at least N lines.
wait_lines() {
    local file=$1 n=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(count_lines "$file")" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}

# Serializes the scripts that use the fixed loopback ports (the tests and the
# demo), so that two runs at once (ctest -j, several build dirs) wait for
# each other instead of failing on a busy port. Holds the lock on fd 9 until
# the script exits.
it_lock() {
    local lock=${XMTA_IT_LOCK:-/tmp/xmta-integration.lock} secs=${1:-300}
    command -v flock >/dev/null || return 0
    exec 9>>"$lock" || return 1
    if ! flock -n 9; then
        echo "# waiting (up to ${secs}s) for another integration run to end"
        flock -w "$secs" 9 || return 1
    fi
}

# --- xmta under valgrind ------------------------------------------------------
# With XMTA_VALGRIND=1 (set by ctest in a XMTA_VALGRIND=ON build), the
# scripts run xmta through it_xmta: valgrind memcheck (test/valgrind/
# wrap.sh), one log per process in XMTA_VALGRIND_LOGS (xmta.PID.log; the
# PID is xmta's, as the wrapper execs). it_summary reports the errors and
# leaks of the runs that ended; ctest's valgrind_logs (test/valgrind/
# check.sh) checks every log once all tests are done, so that the xmta a
# script stops in its cleanup, after its summary, is checked as well.
IT_VG_REPORTED=" "

# it_xmta PATH: the command to run xmta with: PATH itself, or with
# XMTA_VALGRIND=1 a wrapper script running PATH under valgrind.
it_xmta() {
    local bin=$1 dir wrap
    if [ "${XMTA_VALGRIND:-0}" != 1 ]; then
        echo "$bin"
        return 0
    fi
    dir=${XMTA_VALGRIND_LOGS:-${TMPDIR:-/tmp}/xmta-valgrind}
    wrap=$(cd "$(dirname "${BASH_SOURCE[0]}")/../valgrind" && pwd)/wrap.sh
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    printf '#!/bin/sh\nexec %q --log-file=%q %q "$@"\n' "$wrap" \
        "$dir/xmta.%p.log" "$bin" >"$dir/xmta" &&
        chmod 755 "$dir/xmta" || return 1
    echo "$dir/xmta"
}

# A not ok for each finished valgrind run of xmta with errors or leaks
# (each log once).
it_valgrind_report() {
    local log
    [ "${XMTA_VALGRIND:-0}" = 1 ] || return 0
    for log in "${XMTA_VALGRIND_LOGS:-${TMPDIR:-/tmp}/xmta-valgrind}"/xmta.*.log; do
        [ -f "$log" ] || continue
        case $IT_VG_REPORTED in *" $log "*) continue ;; esac
        grep -q 'ERROR SUMMARY: ' "$log" || continue # running, or killed
        IT_VG_REPORTED+="$log "
        grep -q 'ERROR SUMMARY: 0 errors' "$log" && continue
        not_ok "valgrind: xmta without errors or leaks ($log)"
        head -n 150 "$log" | sed 's/^/#   /'
    done
}

# The arguments of most integration scripts: --xmta PATH --client PATH.
# it_args sets XMTA (wrapped by it_xmta) and CLIENT, or exits 2 with the
# usage. it_server_args takes prosody|ejabberd first, for the scripts that
# run on either server (server.sh), and sets SERVER too.
it_usage() {
    echo "usage: $0 ${IT_USAGE_SERVER:-}--xmta PATH --client PATH" >&2
    exit 2
}
it_args() {
    XMTA=${XMTA_BIN:-}
    CLIENT=${XMTA_TEST_CLIENT:-}
    while [ $# -gt 0 ]; do
        case $1 in
        --xmta) XMTA=$2; shift 2 ;;
        --client) CLIENT=$2; shift 2 ;;
        *) it_usage ;;
        esac
    done
    [ -x "$XMTA" ] || { echo "no xmta at '$XMTA'" >&2; exit 2; }
    XMTA=$(it_xmta "$XMTA") || exit 2 # valgrind
    [ -x "$CLIENT" ] || { echo "no client at '$CLIENT'" >&2; exit 2; }
}
# shellcheck disable=SC2034 # SERVER is for the sourcing script
it_server_args() {
    IT_USAGE_SERVER="prosody|ejabberd "
    SERVER=${1:-}
    shift || true
    it_args "$@"
}
