#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# ha_prosody.sh -- two xmta instances with the same domain and hooks (each
# with its own spool and HTTP port) in front of one private Prosody that
# refuses a second connection (component_conflict_resolve = "kick_new"):
# one holds the stream, the other is a standby (503 on /health and for
# webhooks, with the reason) that keeps asking. A client that retries the
# other instance on 503 (what a load balancer does) posts a load; the
# active instance is killed (SIGKILL) in the middle; the standby takes over
# within seconds. The killed instance restarts as a standby; when the
# other stops (SIGTERM), it takes over and delivers what its own spool
# kept. Every 202 must arrive (duplicates allowed, counted).
# Usage: ha_prosody.sh --xmta PATH --client PATH
# Prints "ok - ..." / "not ok - ..." per check, then "N passed, M failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
. "$HERE/prosody.sh"

it_args "$@"

prosody_install_if_missing || exit 77
it_lock 900 || { echo "not ok - another integration run holds the lock"; exit 1; }

PORT_A=15400
PORT_B=15401
DIR=$(mktemp -d /tmp/xmta-ha.XXXXXX)
chmod 755 "$DIR"
TOKEN=$("$XMTA" token | sed -n "s/^token = //p")
PID_A=""
PID_B=""
RUN=0

cleanup() {
    [ -n "$PID_A" ] && it_kill "$PID_A"
    [ -n "$PID_B" ] && it_kill "$PID_B"
    it_kill_all
    prosody_stop "$DIR"
    if [ "$IT_FAILED" -ne 0 ]; then
        for f in "$DIR"/xmta-*.log; do
            echo "# --- $f (tail)"
            tail -n 30 "$f" | sed 's/^/#   /'
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

# config NAME PORT: the same component and hook, its own spool and port
config() {
    cat >"$DIR/$1.ini" <<EOF
[component]
domain = $PROSODY_COMPONENT_DOMAIN
server = 127.0.0.1
port = $PROSODY_COMPONENT_PORT
secret = $PROSODY_COMPONENT_SECRET
ping_interval = 5
ping_timeout = 2

[spool]
path = $DIR/spool-$1

[http]
listen = 127.0.0.1:$2

[hook alerts]
token = $TOKEN
from = alerts
to = alice@localhost
EOF
}

# start NAME: runs xmta on $DIR/NAME.ini; sets PID_NAME
start() {
    local port
    RUN=$((RUN + 1))
    "$XMTA" -c "$DIR/$1.ini" >/dev/null 2>"$DIR/xmta-$1-$RUN.log" </dev/null &
    eval "PID_$1=\$!"
    port=$(sed -n 's/^listen = 127.0.0.1://p' "$DIR/$1.ini")
    port_wait "$port" 10
}

health() { curl -s --max-time 5 "http://127.0.0.1:$1/health" 2>/dev/null; }
state_is() { health "$1" | grep -q "\"component\":\"$2\""; }
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
health_code() {
    curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$1/health" 2>/dev/null
}

# post_lb TEXT: what a load balancer (or Alertmanager's retry) does: try A,
# then B, until one answers 202 (up to 30 s). Prints "CODE PORT ID".
post_lb() {
    local i port code out=$DIR/post.body
    for ((i = 0; i < 150; i++)); do
        for port in $PORT_A $PORT_B; do
            code=$(curl -s --max-time 5 -o "$out" -w '%{http_code}' \
                -H 'Content-Type: text/plain' --data-binary "$1" \
                "http://127.0.0.1:$port/hook/$TOKEN" 2>/dev/null)
            if [ "$code" = 202 ]; then
                echo "202 $port $(grep -oE '"id":"[^"]*"' "$out" | cut -d'"' -f4)"
                return 0
            fi
        done
        sleep 0.2
    done
    echo "${code:-000} - -"
}

prosody_install_if_missing || exit 77
# The block `xmta setup prosody` prints, with kick_new: the standby must be
# refused, not replace the active instance (README, High availability).
config A $PORT_A
config B $PORT_B
"$XMTA" setup prosody -c "$DIR/A.ini" >"$DIR/setup.block" 2>"$DIR/setup.err" ||
    bail "xmta setup prosody ($(cat "$DIR/setup.err"))"
sed -i 's/= "kick_old"/= "kick_new"/' "$DIR/setup.block"
check "the HA block says kick_new" \
    grep -q 'component_conflict_resolve = "kick_new"' "$DIR/setup.block"
prosody_setup "$DIR" "$DIR/setup.block" || bail "Prosody setup"
prosody_start "$DIR" || bail "private Prosody starts"
ok "private Prosody listens"

# alice stays online and records everything
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/alice.jsonl" --expect 0 --duration 170 \
    --timeout 180 >"$DIR/alice.stdout" 2>"$DIR/alice.stderr" &
ALICE=$!
it_track "$ALICE"
wait_for_line "$DIR/alice.stdout" ready 20 "$ALICE" || bail "alice is online"

# --- A active, B standby
start A || bail "xmta A listens"
wait_until 30 state_is $PORT_A online || bail "A holds the stream"
start B || bail "xmta B listens"
if wait_until 20 state_is $PORT_B standby; then
    ok "B is a standby: /health says standby"
else
    not_ok "B is a standby: /health says standby ($(health $PORT_B))"
fi
check_eq "B's /health answers 503" 503 "$(health_code $PORT_B)"
check_eq "A's /health answers 200" 200 "$(health_code $PORT_A)"
code=$(curl -s --max-time 5 -o "$DIR/b.body" -w '%{http_code}' \
    -H 'Content-Type: text/plain' --data-binary 'to the standby' \
    "http://127.0.0.1:$PORT_B/hook/$TOKEN")
check_eq "a webhook to the standby: 503" 503 "$code"
check "the standby's 503 says why" grep -q '"error":"standby' "$DIR/b.body"
check "Prosody refused the second connection (kick_new)" \
    grep -q 'Second component attempted to connect, denying connection' \
    "$DIR/prosody.log"
check "B logged that it stands by" grep -q "standby: another connection holds" \
    "$DIR"/xmta-B-*.log
auths=$(grep -c 'External component successfully authenticated' "$DIR/prosody.log")
sleep 4 # B asks again meanwhile; A must keep the stream
check_eq "the standby never replaced the active one" "$auths" \
    "$(grep -c 'External component successfully authenticated' "$DIR/prosody.log")"

# --- load through the "balancer"; A killed in the middle
M=200
: >"$DIR/accepted"
(
    for ((i = 1; i <= M; i++)); do
        post_lb "ha-$i" >>"$DIR/accepted"
    done
) &
LOADER=$!
it_track "$LOADER"
for ((i = 0; i < 300; i++)); do
    [ "$(count_lines "$DIR/accepted")" -ge 60 ] && break
    sleep 0.05
done
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
PID_A=""
t0=$(date +%s%N)
if wait_until 15 state_is $PORT_B online; then
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    echo "# B took over ${ms} ms after A was killed"
    ok "B takes over within seconds of A's death (${ms} ms)"
else
    not_ok "B takes over within seconds of A's death ($(health $PORT_B))"
fi
wait_pid "$LOADER" 150 >/dev/null
A=$(grep -c '^202 ' "$DIR/accepted" || true)
check_eq "every webhook of the load was accepted by one of the two" "$M" "$A"
onA=$(grep -c "^202 $PORT_A " "$DIR/accepted" || true)
onB=$(grep -c "^202 $PORT_B " "$DIR/accepted" || true)
echo "# accepted: $onA by A (before its death), $onB by B"
check "both instances accepted part of the load" test "$onA" -gt 0 -a "$onB" -gt 0

# --- A restarts: a standby now; its spool waits for its turn
start A || bail "xmta A restarts"
if wait_until 20 state_is $PORT_A standby; then
    ok "the restarted A is a standby"
else
    not_ok "the restarted A is a standby ($(health $PORT_A))"
fi
# B stops cleanly: A takes over and delivers what its spool kept.
kill -TERM "$PID_B"
wait_pid "$PID_B" 20
check_eq "B exits 0 on SIGTERM" 0 $?
PID_B=""
if wait_until 20 state_is $PORT_A online; then
    ok "A takes over when B stops"
else
    not_ok "A takes over when B stops ($(health $PORT_A))"
fi
depth0() { health $PORT_A | grep -q '"depth":0,'; }
wait_until 30 depth0 || not_ok "A's spool empties ($(health $PORT_A))"

# --- every 202 arrived
all_in() {
    local id
    while read -r _ _ id; do
        grep -q "\"id\":\"$id\"" "$DIR/alice.jsonl" || return 1
    done <"$DIR/accepted"
}
wait_until 30 all_in || true
missing=0
while read -r _ _ id; do
    grep -q "\"id\":\"$id\"" "$DIR/alice.jsonl" || missing=$((missing + 1))
done <"$DIR/accepted"
R=$(grep -c '"body":"ha-' "$DIR/alice.jsonl" || true)
U=$(grep -oE '"body":"ha-[0-9]+"' "$DIR/alice.jsonl" | sort -u | wc -l)
echo "# takeover under load: $A accepted, $R received, $((R - U)) duplicate(s)"
check_eq "every accepted webhook arrived (none missing)" 0 "$missing"

kill -TERM "$PID_A"
wait_pid "$PID_A" 20
check_eq "A exits 0 on SIGTERM" 0 $?
PID_A=""
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$DIR"/xmta-*.log; then
    not_ok "no sanitizer reports in the xmta logs"
else
    ok "no sanitizer reports in the xmta logs"
fi
it_summary
