#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check.sh -- after a valgrind test run (XMTA_VALGRIND=ON), reads every log
# that xmta left under valgrind in the integration scripts
# (DIR/TEST/xmta.PID.log, see test/integration/lib.sh) and fails on any
# error or leak, printing the log. A process killed with SIGKILL on
# purpose has no summary: its log is then searched for error reports.
# Usage: check.sh DIR
set -u
dir=${1:?usage: check.sh DIR}
n=0 bad=0 partial=0
# The first lines of memcheck's error reports (valgrind's manual, 4.2).
errors='^==[0-9]+== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|Argument .* of function|Invalid alignment|Invalid size|Process terminating with default action of signal (11|4|6|7|8))'
shopt -s nullglob
for log in "$dir"/*/xmta.*.log; do
    n=$((n + 1))
    if grep -q 'ERROR SUMMARY: ' "$log"; then
        grep -q 'ERROR SUMMARY: 0 errors' "$log" && continue
    else
        partial=$((partial + 1))
        grep -qE "$errors" "$log" || continue
    fi
    bad=$((bad + 1))
    echo "not ok - $log"
    sed 's/^/#   /' "$log" | head -n 200
done
echo "valgrind: $n xmta runs checked ($partial without a summary: killed), $bad with errors or leaks"
# none when only unit and fake tests ran: nothing to check then
[ "$bad" -eq 0 ]
