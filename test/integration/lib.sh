#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lib.sh -- shared helpers of the integration scripts: TAP-like checks,
# background processes that are always cleaned up, bounded waits.

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
    echo "$IT_PASSED passed, $IT_FAILED failed"
    [ "$IT_FAILED" -eq 0 ]
}

# Remembers a background PID so that it_kill_all stops it.
it_track() {
    IT_PIDS+=("$1")
}

# Stops one tracked process: SIGTERM, up to 5 s, then SIGKILL.
it_kill() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
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
