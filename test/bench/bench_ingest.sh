#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench_ingest.sh -- accepted webhooks per second through the real daemon,
# connected to a sink XMPP server (bench_sink: handshake, answers the ack
# pings, discards), with 1 and 32 concurrent clients, the spool on a
# normal disk and off (path = none), so the cost of durability shows.
# Usage: bench_ingest.sh [--build DIR] [--dir SPOOLPARENT] [--smoke]
#   --smoke: a few hundred requests per case (ctest checks it runs).
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$HERE/../../build
PARENT=${TMPDIR:-/tmp}
SMOKE=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --dir) PARENT=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    *) echo "usage: $0 [--build DIR] [--dir SPOOLPARENT] [--smoke]" >&2; exit 2 ;;
    esac
done
XMTA=$BUILD/xmta
SINK=$BUILD/test/bench_sink
LOAD=$BUILD/test/bench_ingest
for b in "$XMTA" "$SINK" "$LOAD"; do
    [ -x "$b" ] || { echo "missing $b (build it first)" >&2; exit 2; }
done
. "$HERE/../integration/lib.sh"
XMTA=$(it_xmta "$XMTA") || exit 2 # under valgrind with XMTA_VALGRIND=1

DIR=$(mktemp -d "$PARENT/xmta-bench.XXXXXX")
SECRET=bench-secret
TOKEN=$("$XMTA" token | sed -n "s/^token = //p")
SINK_PID=""
XMTA_PID=""
cleanup() {
    [ -n "$XMTA_PID" ] && kill "$XMTA_PID" 2>/dev/null && wait "$XMTA_PID" 2>/dev/null
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

# wait_grep FILE REGEX SECS: the first match, printed (bounded wait)
wait_grep() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -oE "$2" "$1" 2>/dev/null | head -n 1 | grep . && return 0
        sleep 0.1
    done
    return 1
}

# run SPOOL CLIENTS N: prints one result line
run() {
    local spool=$1 clients=$2 n=$3 sport hport path i line
    "$SINK" notify.bench "$SECRET" >"$DIR/sink.out" 2>/dev/null &
    SINK_PID=$!
    sport=$(wait_grep "$DIR/sink.out" 'port [0-9]+' 10 | cut -d' ' -f2) ||
        { echo "the sink did not start" >&2; return 1; }
    if [ "$spool" = on ]; then
        path=$DIR/spool-$clients
        rm -rf "$path"
    else
        path=none
    fi
    cat >"$DIR/xmta.ini" <<EOF
[component]
domain = notify.bench
server = 127.0.0.1
port = $sport
secret = $SECRET
queue = 10000000

[spool]
path = $path
max_messages = 10000000
max_bytes = 4G

[http]
listen = 127.0.0.1:0

[hook bench]
token = $TOKEN
to = someone@bench
EOF
    "$XMTA" -c "$DIR/xmta.ini" 2>"$DIR/xmta.log" &
    XMTA_PID=$!
    hport=$(wait_grep "$DIR/xmta.log" 'listening on 127\.0\.0\.1:[0-9]+' 10 |
        sed 's/.*://') || { echo "xmta did not start" >&2; return 1; }
    for ((i = 0; i < 100; i++)); do
        curl -s --max-time 2 "http://127.0.0.1:$hport/health" |
            grep -q '"component":"online"' && break
        sleep 0.1
    done
    line=$("$LOAD" "$hport" "$TOKEN" "$clients" "$n")
    local rc=$?
    printf 'spool=%-3s %s\n' "$spool" "$line"
    kill "$XMTA_PID"
    wait "$XMTA_PID" 2>/dev/null
    XMTA_PID=""
    kill "$SINK_PID"
    wait "$SINK_PID" 2>/dev/null
    SINK_PID=""
    return $rc
}

if [ "$SMOKE" = 1 ]; then
    N1=100
    N32=400
else
    N1=3000
    N32=30000
fi
fail=0
echo "# accepted webhooks/s (spool in $PARENT; xmta from $BUILD)"
for spool in on off; do
    run "$spool" 1 "$N1" || fail=1
    run "$spool" 32 "$N32" || fail=1
done
exit $fail
