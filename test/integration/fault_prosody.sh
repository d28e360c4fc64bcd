#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# fault_prosody.sh -- "never lose an accepted webhook" against a private
# Prosody: the server down while webhooks arrive, xmta killed (SIGKILL)
# with a full spool and in the middle of a load, a link that goes silent
# (a loopback proxy that stops forwarding without closing), a spool on a
# tiny filesystem (503 saying "disk full"), a read-only spool directory
# (503 saying so, accepted again once writable), SIGHUP under load (a broken
# config, a new hook, a removed hook: only the removed hook's requests fail,
# with 401; the stream stays up), and SIGTERM's graceful exit. Every wait is
# bounded.
# Usage: fault_prosody.sh --xmta PATH --client PATH --proxy PATH
# Prints "ok - ..." / "not ok - ..." per check, then "N passed, M failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
. "$HERE/prosody.sh"

XMTA=${XMTA_BIN:-}
CLIENT=${XMTA_TEST_CLIENT:-}
PROXY=""
while [ $# -gt 0 ]; do
    case $1 in
    --xmta) XMTA=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --proxy) PROXY=$2; shift 2 ;;
    *) echo "usage: $0 --xmta PATH --client PATH --proxy PATH" >&2; exit 2 ;;
    esac
done
[ -x "$XMTA" ] || { echo "no xmta at '$XMTA'" >&2; exit 2; }
XMTA=$(it_xmta "$XMTA") || exit 2 # valgrind (lib.sh)
[ -x "$CLIENT" ] || { echo "no client at '$CLIENT'" >&2; exit 2; }
[ -x "$PROXY" ] || { echo "no proxy at '$PROXY'" >&2; exit 2; }

prosody_install_if_missing || exit 77
it_lock 900 || { echo "not ok - another integration run holds the lock"; exit 1; }

HTTP_PORT=${XMTA_FAULT_HTTP_PORT:-18091}
PROXY_PORT=15349
BASE=http://127.0.0.1:$HTTP_PORT
DIR=$(mktemp -d /tmp/xmta-fault.XXXXXX)
chmod 755 "$DIR"
TOKEN=$("$XMTA" token | sed -n "s/^token = //p")
TOKEN_GHOST=$("$XMTA" token | sed -n "s/^token = //p")
XMTA_PID=""
PROXY_PID=""
MOUNTED=""
RUN=0

cleanup() {
    [ -n "$XMTA_PID" ] && it_kill "$XMTA_PID"
    [ -n "$PROXY_PID" ] && it_kill "$PROXY_PID"
    it_kill_all
    prosody_stop "$DIR"
    [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
    if [ "$IT_FAILED" -ne 0 ]; then
        for f in "$DIR"/xmta-*.log; do
            echo "# --- $f (tail)"
            tail -n 40 "$f" | sed 's/^/#   /'
        done
        echo "# files kept in $DIR"
    elif [ -z "${XMTA_KEEP:-}" ]; then
        rm -rf "$DIR"
    else
        echo "# files kept in $DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bail() {
    not_ok "$*"
    it_summary
    exit 1
}

# config NAME SPOOLDIR PORT: writes $DIR/NAME.ini
config() {
    cat >"$DIR/$1.ini" <<EOF
[component]
domain = $PROSODY_COMPONENT_DOMAIN
server = 127.0.0.1
port = $3
secret = $PROSODY_COMPONENT_SECRET
ping_interval = 5
ping_timeout = 2

[spool]
path = $2

[http]
listen = 127.0.0.1:$HTTP_PORT
max_body = 64k

[hook alerts]
token = $TOKEN
from = alerts
to = alice@localhost

[hook ghost]
token = $TOKEN_GHOST
to = nobody@localhost
EOF
}

# xmta_start NAME: runs xmta on $DIR/NAME.ini, log in $DIR/xmta-NAME-K.log
xmta_start() {
    RUN=$((RUN + 1))
    "$XMTA" -c "$DIR/$1.ini" >/dev/null 2>"$DIR/xmta-$1-$RUN.log" </dev/null &
    XMTA_PID=$!
    port_wait "$HTTP_PORT" 10
}

health() { curl -s --max-time 5 "$BASE/health" 2>/dev/null; }
online() { health | grep -q '"component":"online"'; }
offline() { ! online; }
depth_is() { health | grep -q "\"depth\":$1,"; }
depth_zero() { depth_is 0; }
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# post BODY: prints the status code; the answer's id goes to $DIR/last.id
post() {
    local code
    code=$(curl -sS --max-time 10 -o "$DIR/last.body" -w '%{http_code}' \
        -H 'Content-Type: text/plain' --data-binary "$1" \
        "$BASE/hook/$TOKEN" 2>/dev/null)
    grep -oE '"id":"[^"]*"' "$DIR/last.body" 2>/dev/null | cut -d'"' -f4 \
        >"$DIR/last.id"
    echo "${code:-000}"
}

# receive TAG N SECS: alice logs in and records until N messages (or SECS)
receive() {
    "$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" \
        --jid alice@localhost --password alice-pw --out "$DIR/$1.jsonl" \
        --expect "$2" --timeout "$3" >"$DIR/$1.stdout" 2>"$DIR/$1.stderr" &
    local pid=$!
    it_track "$pid"
    wait_pid "$pid" $(($3 + 10)) >/dev/null
}

bodies() { grep -oE '"body":"[^"]*"' "$DIR/$1.jsonl" | cut -d'"' -f4; }
ids() { grep -oE '"id":"[^"]*"' "$DIR/$1.jsonl" | cut -d'"' -f4; }

prosody_setup "$DIR" || bail "Prosody setup"
prosody_start "$DIR" || bail "private Prosody starts"
ok "private Prosody listens"

# --- 1: Prosody stopped, N webhooks, Prosody started -> N once, in order
N=20
config a "$DIR/spool-a" "$PROSODY_COMPONENT_PORT"
xmta_start a || bail "xmta listens on $HTTP_PORT"
wait_until 30 online || bail "xmta online"
prosody_stop "$DIR"
wait_until 15 offline || not_ok "xmta notices that Prosody is gone"
fails=0
for ((i = 1; i <= N; i++)); do
    [ "$(post "down-$i")" = 202 ] || fails=$((fails + 1))
done
check_eq "$N webhooks accepted (202) while Prosody is down" 0 "$fails"
check "/health reports $N spooled" depth_is "$N"
prosody_start "$DIR" || bail "Prosody restarts"
wait_until 90 depth_zero || not_ok "the spool empties after Prosody is back ($(health))"
receive a1 "$N" 30
got=$(bodies a1 | tr '\n' ' ')
want=$(for ((i = 1; i <= N; i++)); do printf 'down-%d ' "$i"; done)
check_eq "alice gets all $N, once, in order" "$want" "$got"

# --- 1b: a bounce from the server is matched to the spooled message
code=$(curl -sS --max-time 10 -o "$DIR/ghost.body" -w '%{http_code}' \
    -H 'Content-Type: text/plain' --data-binary "to nobody" \
    "$BASE/hook/$TOKEN_GHOST")
gid=$(grep -oE '"id":"[^"]*"' "$DIR/ghost.body" | cut -d'"' -f4)
check_eq "a webhook to a user that does not exist is accepted" 202 "$code"
if wait_until 10 grep -q "bounced id=$gid hook=ghost to=nobody@localhost condition=" \
    "$DIR/xmta-a-$RUN.log"; then
    ok "the bounce is logged with id, hook, recipient and condition"
else
    not_ok "the bounce is logged with id, hook, recipient and condition"
fi
check "/health counts the bounce" sh -c "curl -s '$BASE/health' | grep -q '\"bounced\":1'"

# --- 2: SIGKILL with N spooled and Prosody down; restart both -> all N
prosody_stop "$DIR"
wait_until 15 offline || true
fails=0
for ((i = 1; i <= N; i++)); do
    [ "$(post "kill-$i")" = 202 ] || fails=$((fails + 1))
done
check_eq "$N webhooks accepted before the kill" 0 "$fails"
kill -KILL "$XMTA_PID"
wait "$XMTA_PID" 2>/dev/null
XMTA_PID=""
prosody_start "$DIR" || bail "Prosody restarts"
xmta_start a || bail "xmta restarts on the same spool"
wait_until 60 depth_zero || not_ok "the recovered spool empties ($(health))"
receive a2 "$N" 30
got=$(bodies a2 | grep -c '^kill-' || true)
check_eq "alice gets all $N spooled across SIGKILL" "$N" "$got"
check "xmta logged the recovery" grep -q "$N delivery(ies) recovered" "$DIR/xmta-a-$RUN.log"

# --- 3: SIGKILL in the middle of a load of M webhooks
M=300
: >"$DIR/accepted.ids"
(
    for ((i = 1; i <= M; i++)); do
        code=$(post "load-$i")
        [ "$code" = 202 ] && cat "$DIR/last.id" >>"$DIR/accepted.ids"
    done
) &
LOADER=$!
it_track "$LOADER"
for ((i = 0; i < 200; i++)); do
    [ "$(count_lines "$DIR/accepted.ids")" -ge 60 ] && break
    sleep 0.05
done
kill -KILL "$XMTA_PID"
wait "$XMTA_PID" 2>/dev/null
XMTA_PID=""
wait_pid "$LOADER" 120 >/dev/null
A=$(count_lines "$DIR/accepted.ids")
xmta_start a || bail "xmta restarts after the kill"
wait_until 60 depth_zero || not_ok "the spool empties after the kill ($(health))"
receive a3 "$A" 30
ids a3 | sort >"$DIR/received.ids"
missing=0
while read -r id; do
    grep -qxF "$id" "$DIR/received.ids" || missing=$((missing + 1))
done <"$DIR/accepted.ids"
R=$(wc -l <"$DIR/received.ids")
dups=$((R - $(sort -u "$DIR/received.ids" | wc -l)))
echo "# SIGKILL under load: $A of $M accepted, $R received, $dups duplicate(s)"
check "some webhooks were accepted before the kill" test "$A" -gt 0
check_eq "every accepted webhook of the load arrives (none missing)" 0 "$missing"

# --- 4: a link that goes silent
it_kill "$XMTA_PID"
XMTA_PID=""
"$PROXY" "$PROXY_PORT" "$PROSODY_COMPONENT_PORT" >"$DIR/proxy.out" 2>"$DIR/proxy.err" &
PROXY_PID=$!
wait_for_line "$DIR/proxy.out" ready 10 "$PROXY_PID" || bail "the proxy listens"
config p "$DIR/spool-p" "$PROXY_PORT"
xmta_start p || bail "xmta (through the proxy) listens"
wait_until 30 online || bail "xmta online through the proxy"
kill -USR1 "$PROXY_PID"
sleep 0.5
fails=0
for ((i = 1; i <= 5; i++)); do
    [ "$(post "silent-$i")" = 202 ] || fails=$((fails + 1))
done
check_eq "5 webhooks accepted on the silent link" 0 "$fails"
if wait_until 30 grep -q "ping timeout" "$DIR/xmta-p-$RUN.log"; then
    ok "xmta notices the silent link (ping timeout)"
else
    not_ok "xmta notices the silent link (ping timeout)"
fi
wait_until 60 depth_zero || not_ok "delivered after the reconnect ($(health))"
receive a4 5 30
got=$(bodies a4 | grep -c '^silent-' || true)
check "all 5 arrive after the reconnect" test "$got" -ge 5

# --- 5: SIGTERM exits 0, what is left stays spooled
prosody_stop "$DIR"
wait_until 15 offline || true
post "term-1" >/dev/null
kill -TERM "$XMTA_PID"
wait_pid "$XMTA_PID" 20
rc=$?
XMTA_PID=""
check_eq "SIGTERM: xmta exits 0" 0 "$rc"
it_kill "$PROXY_PID"
PROXY_PID=""
prosody_start "$DIR" || bail "Prosody restarts"
config p2 "$DIR/spool-p" "$PROSODY_COMPONENT_PORT"
xmta_start p2 || bail "xmta restarts"
wait_until 60 depth_zero || not_ok "the message kept at SIGTERM is delivered ($(health))"
receive a5 1 20
check "the message accepted before SIGTERM arrives" grep -q '"body":"term-1"' "$DIR/a5.jsonl"

# --- 7: SIGTERM while busy: what was accepted is flushed and acknowledged
it_kill "$XMTA_PID"
XMTA_PID=""
config g "$DIR/spool-g" "$PROSODY_COMPONENT_PORT"
xmta_start g || bail "xmta (grace) listens"
wait_until 30 online || bail "xmta online (grace)"
fails=0
for ((i = 1; i <= 30; i++)); do
    [ "$(post "grace-$i")" = 202 ] || fails=$((fails + 1))
done
kill -TERM "$XMTA_PID"
wait_pid "$XMTA_PID" 20
rc=$?
XMTA_PID=""
check_eq "30 webhooks accepted just before SIGTERM" 0 "$fails"
check_eq "SIGTERM while busy: exit 0" 0 "$rc"
check "SIGTERM: the stream closed after flushing" \
    grep -q "shutdown: leaving rooms and closing the stream" "$DIR/xmta-g-$RUN.log"
receive a8 30 30
got=$(bodies a8 | grep -c '^grace-' || true)
check_eq "all 30 arrive (flushed within the grace period or kept)" 30 "$got"

# --- 8: SIGHUP under load: a broken config, a new hook, a removed hook
TOKEN_OLD=$("$XMTA" token | sed -n "s/^token = //p")
TOKEN_NEW=$("$XMTA" token | sed -n "s/^token = //p")
config h "$DIR/spool-h" "$PROSODY_COMPONENT_PORT"
printf '\n[hook old]\ntoken = %s\nto = alice@localhost\n' "$TOKEN_OLD" >>"$DIR/h.ini"
cp "$DIR/h.ini" "$DIR/h.ini.orig"
xmta_start h || bail "xmta (reload) listens"
wait_until 30 online || bail "xmta online (reload)"
auth_before=$(grep -c 'External component successfully authenticated' "$DIR/prosody.log")
# loader TOKEN TAG N: posts N webhooks, one status code per line in TAG.codes
loader() {
    local i code
    : >"$DIR/$2.codes"
    for ((i = 1; i <= $3; i++)); do
        code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
            -H 'Content-Type: text/plain' --data-binary "$2-$i" \
            "$BASE/hook/$1" 2>/dev/null)
        echo "${code:-000}" >>"$DIR/$2.codes"
        sleep 0.02
    done
}
loader "$TOKEN" keep 150 &
L1=$!
it_track "$L1"
loader "$TOKEN_OLD" gone 150 &
L2=$!
it_track "$L2"
sleep 0.5
# a broken file: rejected with FILE:LINE, the old one keeps running
printf '\n[hook broken]\nthis line is wrong\n' >>"$DIR/h.ini"
kill -HUP "$XMTA_PID"
sleep 0.5
check "a broken config is rejected with FILE:LINE" \
    grep -qE "$DIR/h.ini:[0-9]+: " "$DIR/xmta-h-$RUN.log"
check "the running config is kept" grep -q "reload rejected" "$DIR/xmta-h-$RUN.log"
# the old hook removed, a new one added
cp "$DIR/h.ini.orig" "$DIR/h.ini"
sed -i "/^\[hook old\]/,\$d" "$DIR/h.ini"
printf '\n[hook new]\ntoken = %s\nto = alice@localhost\n' "$TOKEN_NEW" >>"$DIR/h.ini"
kill -HUP "$XMTA_PID"
wait_until 5 grep -q "reloaded: " "$DIR/xmta-h-$RUN.log" || not_ok "the new config is loaded"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' \
    --data-binary "new-1" "$BASE/hook/$TOKEN_NEW")
check_eq "the new hook answers 202 after SIGHUP" 202 "$code"
wait_pid "$L1" 60 >/dev/null
wait_pid "$L2" 60 >/dev/null
check_eq "no request of the kept hook failed" 150 "$(grep -c '^202$' "$DIR/keep.codes")"
bad=$(grep -vcE '^(202|401)$' "$DIR/gone.codes" || true)
check_eq "the removed hook got only 202, then 401" 0 "$bad"
check "the removed hook answers 401 after SIGHUP" \
    test "$(tail -n 1 "$DIR/gone.codes")" = 401
# no 202 after the first 401
check "no 202 for the removed hook after its first 401" \
    sh -c "sed -n '/^401\$/,\$p' '$DIR/gone.codes' | grep -qv '^401\$' && exit 1 || exit 0"
auth_after=$(grep -c 'External component successfully authenticated' "$DIR/prosody.log")
check_eq "the stream stayed up (no new component login)" "$auth_before" "$auth_after"
wait_until 30 depth_zero || not_ok "the reload test's spool empties ($(health))"

# --- 6: a spool on a tiny filesystem
it_kill "$XMTA_PID"
XMTA_PID=""
mkdir -p "$DIR/tiny"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m tmpfs "$DIR/tiny" 2>/dev/null; then
    MOUNTED=$DIR/tiny
    # Other files take all but about 600k: the space an admin frees later.
    dd if=/dev/zero of="$DIR/tiny/filler" bs=1k count=1450 2>/dev/null
    config t "$DIR/tiny/spool" "$PROSODY_COMPONENT_PORT"
    xmta_start t || bail "xmta on the tiny spool listens"
    wait_until 30 online || bail "xmta online (tiny spool)"
    prosody_stop "$DIR"
    wait_until 15 offline || true
    body=$(head -c 30000 /dev/zero | tr '\0' 'x')
    : >"$DIR/tiny.ids"
    codes=""
    code=""
    for ((i = 1; i <= 60; i++)); do
        code=$(post "tiny-$i $body")
        codes="$codes $code"
        if [ "$code" = 202 ]; then
            cat "$DIR/last.id" >>"$DIR/tiny.ids"
        elif [ "$code" = 503 ]; then
            break
        fi
    done
    T=$(count_lines "$DIR/tiny.ids")
    check "a full spool answers 503 (codes:$codes)" test "$code" = 503
    check "the 503 says the disk is full ($(cat "$DIR/last.body"))" \
        grep -q '"error":"spool write failed: disk full"' "$DIR/last.body"
    check "xmta is still running after the disk filled" kill -0 "$XMTA_PID"
    check "xmta logged the full disk" grep -q "disk full" "$DIR/xmta-t-$RUN.log"
    check "/health still answers" depth_is "$T"
    prosody_start "$DIR" || bail "Prosody restarts"
    wait_until 60 depth_zero || not_ok "the tiny spool empties ($(health))"
    receive a6 "$T" 30
    got=$(bodies a6 | grep -c '^tiny-' || true)
    check_eq "all $T accepted before the disk filled arrive" "$T" "$got"
    rm -f "$DIR/tiny/filler"
    if [ "$(post "after-full")" = 202 ]; then
        ok "accepted again once space is freed"
    else
        not_ok "accepted again once space is freed"
    fi
    receive a7 1 20
    check "the message accepted after the full disk arrives" \
        grep -q '"body":"after-full"' "$DIR/a7.jsonl"
    wait_until 20 depth_zero || not_ok "the spool is empty at the end ($(health))"
else
    echo "# tiny filesystem: cannot mount tmpfs (not root?); case skipped"
fi

# --- 6b: a read-only spool directory: 503 saying so, a clear log line, no
# crash; accepted again once it is writable (checked every 5 s)
it_kill "$XMTA_PID"
XMTA_PID=""
[ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
MOUNTED=""
mkdir -p "$DIR/ro"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o ro,size=1m tmpfs "$DIR/ro" 2>/dev/null; then
    MOUNTED=$DIR/ro
    config r "$DIR/ro/spool" "$PROSODY_COMPONENT_PORT"
    xmta_start r || bail "xmta on the read-only spool listens"
    check "xmta runs on a read-only spool" kill -0 "$XMTA_PID"
    code=$(post "ro-1")
    check_eq "a read-only spool answers 503" 503 "$code"
    check "the 503 says the spool is not writable ($(cat "$DIR/last.body"))" \
        grep -q '"error":"spool not writable' "$DIR/last.body"
    check "the log names the spool and the cause" \
        grep -qE "spool.*$DIR/ro/spool.*Read-only file system.*503" \
        "$DIR/xmta-r-$RUN.log"
    check "/health reports the spool not ok" sh -c "curl -s '$BASE/health' |
        grep -q '\"ok\":false'"
    mount -o remount,rw "$DIR/ro" || bail "remount the spool read-write"
    sleep 5.5 # the spool is tried again at most every 5 s
    code=$(post "ro-2")
    check_eq "writable again: 202" 202 "$code"
    receive a9 1 20
    check "the message accepted after the fix arrives" \
        grep -q '"body":"ro-2"' "$DIR/a9.jsonl"
else
    echo "# read-only spool: cannot mount tmpfs (not root?); case skipped"
fi

it_summary
