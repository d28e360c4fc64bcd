#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# ha_ejabberd.sh -- two xmta instances with the same domain on one private
# ejabberd, which accepts both connections and spreads the stanzas for the
# domain (our ping and ack replies included) over them at random. Both stay
# active: webhooks posted to either are all delivered, neither reconnects
# (a reply taken by the other instance is ignored, the ack asked again),
# and both spools empty.
# Usage: ha_ejabberd.sh --xmta PATH --client PATH
# Prints "ok - ..." / "not ok - ..." per check, then "N passed, M failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
. "$HERE/ejabberd.sh"

it_args "$@"

# A missing ejabberd is a failure, never a skip.
ejabberd_install_if_missing || { echo "not ok - ejabberd is installed"; exit 1; }
it_lock 900 || { echo "not ok - another integration run holds the lock"; exit 1; }

PORT_A=15402
PORT_B=15403
DIR=$(mktemp -d /tmp/xmta-hae.XXXXXX)
chmod 755 "$DIR"
TOKEN=$("$XMTA" token | sed -n "s/^token = //p")
PID_A=""
PID_B=""

cleanup() {
    [ -n "$PID_A" ] && it_kill "$PID_A"
    [ -n "$PID_B" ] && it_kill "$PID_B"
    it_kill_all
    ejabberd_stop "$DIR"
    if [ "$IT_FAILED" -ne 0 ]; then
        for f in "$DIR"/xmta-*.log; do
            echo "# --- $f (tail)"
            grep -v ' debug ' "$f" | tail -n 30 | sed 's/^/#   /'
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

config() { # config NAME PORT
    cat >"$DIR/$1.ini" <<EOF
[component]
domain = $EJABBERD_COMPONENT_DOMAIN
server = 127.0.0.1
port = $EJABBERD_COMPONENT_PORT
secret = $EJABBERD_COMPONENT_SECRET
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

health() { curl -s --max-time 5 "http://127.0.0.1:$1/health" 2>/dev/null; }
online() { health "$1" | grep -q '"component":"online"'; }
depth0() { health "$1" | grep -q '"depth":0,'; }
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}
auths() {
    grep -c 'Accepted external component handshake authentication' \
        "$DIR/log/ejabberd.log" 2>/dev/null || true
}

config A $PORT_A
config B $PORT_B
"$XMTA" setup ejabberd -c "$DIR/A.ini" >"$DIR/setup.block" 2>"$DIR/setup.err" ||
    bail "xmta setup ejabberd ($(cat "$DIR/setup.err"))"
ejabberd_setup "$DIR" "$DIR/setup.block" || bail "ejabberd setup"
ejabberd_start "$DIR" || bail "private ejabberd starts"
ok "private ejabberd listens"

"$CLIENT" --host 127.0.0.1 --port "$EJABBERD_C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/alice.jsonl" --expect 0 --duration 120 \
    --timeout 130 >"$DIR/alice.stdout" 2>"$DIR/alice.stderr" &
ALICE=$!
it_track "$ALICE"
wait_for_line "$DIR/alice.stdout" ready 30 "$ALICE" || bail "alice is online"

"$XMTA" -v -c "$DIR/A.ini" >/dev/null 2>"$DIR/xmta-A.log" </dev/null &
PID_A=$!
"$XMTA" -v -c "$DIR/B.ini" >/dev/null 2>"$DIR/xmta-B.log" </dev/null &
PID_B=$!
wait_until 30 online $PORT_A || bail "A online"
wait_until 30 online $PORT_B || bail "B online"
ok "both instances hold a connection for the domain (ejabberd balances)"
wait_until 10 sh -c "[ \"\$(grep -c 'Accepted external component handshake authentication' '$DIR/log/ejabberd.log')\" -ge 2 ]" || true
before=$(auths)
check_eq "ejabberd accepted two component connections" 2 "$before"

# Webhooks to both, spread over several ping periods.
N=60
: >"$DIR/accepted"
fails=0
for ((i = 1; i <= N; i++)); do
    port=$PORT_A
    [ $((i % 2)) = 0 ] && port=$PORT_B
    code=$(curl -s --max-time 10 -o "$DIR/post.body" -w '%{http_code}' \
        -H 'Content-Type: text/plain' --data-binary "hae-$i" \
        "http://127.0.0.1:$port/hook/$TOKEN" 2>/dev/null)
    if [ "$code" = 202 ]; then
        grep -oE '"id":"[^"]*"' "$DIR/post.body" | cut -d'"' -f4 >>"$DIR/accepted"
    else
        fails=$((fails + 1))
    fi
    sleep 0.2
done
check_eq "all $N webhooks accepted (both instances active)" 0 "$fails"
all_in() {
    local id
    while read -r id; do
        grep -q "\"id\":\"$id\"" "$DIR/alice.jsonl" || return 1
    done <"$DIR/accepted"
}
if wait_until 30 all_in; then
    ok "alice got every accepted webhook"
else
    not_ok "alice got every accepted webhook ($(count_lines "$DIR/alice.jsonl") lines)"
fi
sleep 11 # a few more ping periods with no traffic but the pings
if wait_until 20 depth0 $PORT_A && wait_until 20 depth0 $PORT_B; then
    ok "both spools empty: every delivery acknowledged"
else
    not_ok "both spools empty ($(health $PORT_A) / $(health $PORT_B))"
fi
check_eq "neither instance reconnected" "$before" "$(auths)"
check_eq "no link declared dead" 0 "$(cat "$DIR"/xmta-*.log | grep -c 'link down')"
other=$(cat "$DIR"/xmta-*.log | grep -c 'is not for this connection' || true)
asked=$(cat "$DIR"/xmta-*.log | grep -cE 'send <iq.*id=.ack-' || true)
echo "# ack pings sent: $asked; replies that reached the other instance: $other"
R=$(grep -c '"body":"hae-' "$DIR/alice.jsonl" || true)
echo "# $N accepted, $R received, $((R - $(grep -oE '"body":"hae-[0-9]+"' "$DIR/alice.jsonl" | sort -u | wc -l))) duplicate(s)"

kill -TERM "$PID_A" "$PID_B"
wait_pid "$PID_A" 20
check_eq "A exits 0" 0 $?
PID_A=""
wait_pid "$PID_B" 20
check_eq "B exits 0" 0 $?
PID_B=""
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$DIR"/xmta-*.log; then
    not_ok "no sanitizer reports in the xmta logs"
else
    ok "no sanitizer reports in the xmta logs"
fi
it_summary
