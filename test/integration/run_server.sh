#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# run_server.sh -- xmta end to end: a private XMPP server (Prosody 0.12 or
# ejabberd 23.01, each started privately on loopback ports), the real
# daemon, and real XMPP clients that check what webhooks delivered. Every
# case runs on both servers; a server that cannot start fails the run.
# Usage: run_server.sh prosody|ejabberd --xmta PATH/xmta
#                      --client PATH/xmta_test_client
# (or XMTA_BIN / XMTA_TEST_CLIENT). XMTA_KEEP=1 keeps the temp dir.
# Prints "ok - ..." / "not ok - ..." per check, then "N passed, M failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
. "$HERE/citizen.sh"

it_server_args "$@"

# --- the server backends (server.sh) -------------------------------------------
. "$HERE/server.sh" || it_usage
DOMAIN=notify.localhost

HTTP_PORT=${XMTA_HTTP_PORT:-18080}
BASE=http://127.0.0.1:$HTTP_PORT
ROOM=ops@conference.localhost
PRIV=private@conference.localhost # made members-only by carol (citizen.sh)
BOTNICK=OpsBot
# A secret unique to this run, so that finding it in a log means a leak.
SECRET=it-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

if ! srv_install; then
    echo "not ok - $SERVER is installed"
    exit 1
fi
it_lock 600 || { echo "not ok - another integration run holds the lock"; exit 1; }
DIR=$(mktemp -d /tmp/xmta-it.XXXXXX)
chmod 755 "$DIR"
mkdir -p "$DIR/http"
XMTA_PID=""

dump_logs() {
    local f
    echo "# --- xmta log (tail): $DIR/xmta.log"
    tail -n 120 "$DIR/xmta.log" 2>/dev/null | sed 's/^/#   /'
    echo "# --- $(srv_log) (tail)"
    tail -n 60 "$(srv_log)" 2>/dev/null | sed 's/^/#   /'
    for f in "$DIR"/*.stderr; do
        [ -s "$f" ] || continue
        echo "# --- $f"
        tail -n 20 "$f" | sed 's/^/#   /'
    done
}

cleanup() {
    it_kill_all
    [ -n "$XMTA_PID" ] && it_kill "$XMTA_PID"
    srv_stop
    if [ "$IT_FAILED" -ne 0 ]; then
        dump_logs
    fi
    if [ "$IT_FAILED" -eq 0 ] && [ -z "${XMTA_KEEP:-}" ]; then
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

C=(--host 127.0.0.1 --port "$C2S_PORT")

# client NAME ARGS...: runs the test client in the background as user NAME
# (NAME@localhost, password NAME-pw); output in $DIR/TAG.{jsonl,stdout,stderr}
# where TAG is $TAG (default NAME). Sets CLIENT_PID.
client_bg() {
    local name=$1 tag=${TAG:-$1}
    shift
    "$CLIENT" "${C[@]}" --jid "$name@localhost" --password "$name-pw" \
        --out "$DIR/$tag.jsonl" "$@" >"$DIR/$tag.stdout" \
        2>"$DIR/$tag.stderr" &
    CLIENT_PID=$!
    it_track "$CLIENT_PID"
}

get() { # get FILE INDEX FIELD
    "$CLIENT" --get "$@" 2>/dev/null
}

# index_of_id FILE ID: the line of FILE whose "id" is ID, or nothing.
index_of_id() {
    local file=$1 id=$2 i n
    n=$(count_lines "$file")
    for ((i = 0; i < n; i++)); do
        if [ "$(get "$file" "$i" id)" == "$id" ]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}

# A file name for a check's description.
safe_name() {
    printf '%s' "$1" | tr -c 'A-Za-z0-9' _
}

# http NAME METHOD PATH [curl args...]: prints the status code; the
# response body and headers are in $DIR/http/NAME.{body,hdr}.
http() {
    local name method=$2 path=$3
    name=$(safe_name "$1")
    shift 3
    curl -sS --max-time 15 -X "$method" -o "$DIR/http/$name.body" \
        -D "$DIR/http/$name.hdr" -w '%{http_code}' "$@" "$BASE$path" \
        2>>"$DIR/curl.stderr"
}

# The "id" of a 202 answer in $DIR/http/NAME.body.
answer_id() {
    grep -oE '"id" *: *"[^"]*"' "$DIR/http/$(safe_name "$1").body" |
        head -n 1 |
        sed -E 's/.*"([^"]*)"$/\1/'
}

health() {
    curl -s --max-time 5 "$BASE/health" 2>/dev/null
}

health_online() {
    health | grep -qE '"component" *: *"online"'
}

# wait_until SECONDS COMMAND...: polls every 0.2 s, bounded.
wait_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# auth_at_least N: the server logged N component logins (ejabberd's line
# can appear a moment late).
auth_at_least() {
    [ "$(auth_lines)" -ge "$1" ]
}

# collect NAME TAG N SECS: NAME logs in until N messages arrived in all,
# concatenated in $DIR/TAG.jsonl. On ejabberd up to three logins: it
# writes offline messages in the background, so one that lands while the
# user logs in shows at the next login (SERVERS.md).
collect() {
    local name=$1 tag=$2 n=$3 secs=$4 k have tries=1
    [ "$OFFLINE_LATE" = 1 ] && tries=3
    : >"$DIR/$tag.jsonl"
    for ((k = 1; k <= tries; k++)); do
        have=$(count_lines "$DIR/$tag.jsonl")
        TAG=$tag-$k client_bg "$name" --expect $((n - have)) --timeout "$secs"
        wait_pid "$CLIENT_PID" $((secs + 5))
        cat "$DIR/$tag-$k.jsonl" >>"$DIR/$tag.jsonl" 2>/dev/null
        [ "$(count_lines "$DIR/$tag.jsonl")" -ge "$n" ] && return 0
    done
    return 1
}

# --- xmta's config and the server ------------------------------------------
port_open "$HTTP_PORT" && bail "port $HTTP_PORT is free for xmta"

# --- xmta --------------------------------------------------------------------
TOKEN_ALERTS=$("$XMTA" token | sed -n "s/^token = //p")
TOKEN_OPS=$("$XMTA" token | sed -n "s/^token = //p")
TOKEN_PRIV=$("$XMTA" token | sed -n "s/^token = //p")
citizen_avatar "$DIR/alerts.png"
if [[ $TOKEN_ALERTS =~ ^[A-Za-z0-9_-]{43}$ ]] && [ "$TOKEN_ALERTS" != "$TOKEN_OPS" ]; then
    ok "xmta token prints 43 url-safe characters, different each time"
else
    bail "xmta token prints 43 url-safe characters, different each time"
fi
cat >"$DIR/xmta.ini" <<EOF
[component]
domain = $DOMAIN
server = 127.0.0.1
port = 15347
secret = $SECRET

[spool]
path = $DIR/spool

[http]
listen = 127.0.0.1:$HTTP_PORT
max_body = 64k

[hook alerts]
token = $TOKEN_ALERTS
from = alerts
nick = Alerts
to = alice@localhost
avatar = $DIR/alerts.png
allow_to = *@localhost

[hook ops]
token = $TOKEN_OPS
from = ops
nick = $BOTNICK
room = $ROOM

[hook private]
token = $TOKEN_PRIV
from = ops
nick = $BOTNICK
room = $PRIV
EOF
"$XMTA" check -c "$DIR/xmta.ini" >"$DIR/check.out" 2>&1 ||
    bail "xmta check accepts the test config ($(cat "$DIR/check.out"))"
ok "xmta check accepts the test config"

# The server is configured with exactly what `xmta setup` prints.
"$XMTA" setup "$SERVER" -c "$DIR/xmta.ini" >"$DIR/setup.block" 2>"$DIR/setup.err" ||
    bail "xmta setup $SERVER -c xmta.ini ($(cat "$DIR/setup.err"))"
check "xmta setup $SERVER prints the secret and the domain" \
    grep -qF -e "$SECRET" "$DIR/setup.block"
check "xmta setup $SERVER names $DOMAIN" grep -qF "$DOMAIN" "$DIR/setup.block"
srv_setup "$DIR/setup.block" || bail "$SRV_NAME setup (config, users)"
srv_start || bail "private $SRV_NAME starts"
ok "private $SRV_NAME listens on 127.0.0.1:$C2S_PORT/15347"

# carol creates the room before xmta joins it, so xmta is never its creator.
CAROL_CTL=$DIR/carol.ctl
: >"$CAROL_CTL"
TAG=carol client_bg carol --join "$ROOM/carol" --join "$PRIV/carol" \
    --stanzas "$DIR/carol.stanzas" --control "$CAROL_CTL" \
    --duration 590 --timeout 600
CAROL=$CLIENT_PID
wait_for_line "$DIR/carol.stdout" ready 20 "$CAROL" ||
    bail "carol creates and joins $ROOM and $PRIV"
ok "carol creates and joins $ROOM and $PRIV"
citizen_private_room

"$XMTA" -v -c "$DIR/xmta.ini" >"$DIR/xmta.stdout" 2>"$DIR/xmta.log" </dev/null &
XMTA_PID=$!
wait_until 30 health_online ||
    bail "xmta reports component online on /health within 30s"
ok "xmta reports component online on /health"
wait_until 10 auth_at_least 1 || true
check_eq "$SRV_NAME logged one component authentication" 1 "$(auth_lines)"

# The room join: /health counts joined rooms ("rooms":{"joined":1,...}).
if wait_until 20 sh -c "curl -s --max-time 5 '$BASE/health' |
    grep -qE '\"joined\" *: *1[,}]'"; then
    ok "/health reports the room joined"
else
    not_ok "/health reports the room joined ($(health))"
fi

# --- (a) + (b): payloads to alice, while bob records ------------------------
TAG=bob client_bg bob --expect 0 --duration 590 --timeout 600
BOB=$CLIENT_PID
TAG=alice client_bg alice --expect 0 --duration 590 --timeout 600
ALICE=$CLIENT_PID
wait_for_line "$DIR/bob.stdout" ready 20 "$BOB" || bail "bob is online"
wait_for_line "$DIR/alice.stdout" ready 20 "$ALICE" || bail "alice is online"
ok "alice and bob are online"

# Each entry: NAME|EXPECTED BODY; the request is sent by send_case.
NAMES=()
declare -A WANT ID

send_case() { # send_case NAME EXPECTED-BODY CURL-ARGS...
    local name=$1 want=$2 code file
    shift 2
    code=$(http "$name" POST "$@")
    file=$DIR/http/$(safe_name "$name").body
    if [ "$code" == 202 ] && grep -qE '"ok" *: *true' "$file"; then
        ok "$name: 202 {\"ok\":true}"
    else
        not_ok "$name: 202 {\"ok\":true} (got $code: $(head -c 200 "$file"))"
        return
    fi
    ID[$name]=$(answer_id "$name")
    if [ -z "${ID[$name]}" ]; then
        not_ok "$name: the 202 answer carries an id"
        return
    fi
    NAMES+=("$name")
    WANT[$name]=$want
}

T=$TOKEN_ALERTS
send_case "text/plain utf-8" 'Grüße ✓' "/hook/$T" \
    -H 'Content-Type: text/plain; charset=utf-8' --data-binary 'Grüße ✓'
send_case "form body, Bearer header" '🔥🚀' "/hook" \
    -H "Authorization: Bearer $T" --data-urlencode 'body=🔥🚀'
send_case "form with to=" 'form to alice' "/hook/$T" \
    --data-urlencode 'to=alice@localhost' --data-urlencode 'body=form to alice'
send_case "JSON text" 'JSON Grüße ✓ 🔥🚀' "/hook/$T" \
    -H 'Content-Type: application/json' \
    --data-binary '{"text":"JSON Grüße ✓ 🔥🚀"}'
send_case "JSON body with ?to=" 'query to' "/hook/$T?to=alice%40localhost" \
    -H 'Content-Type: application/json' --data-binary '{"body":"query to"}'
send_case "JSON message" 'from message' "/hook/$T" \
    -H 'Content-Type: application/json' --data-binary '{"message":"from message"}'
send_case "JSON content, Bearer" 'from content' "/hook" \
    -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
    --data-binary '{"content":"from content"}'
send_case "JSON title" $'*Disk*\nfull' "/hook/$T" \
    -H 'Content-Type: application/json' \
    --data-binary '{"title":"Disk","body":"full"}'
# (b) markup stays text
send_case "markup < &" 'a < b && c > d' "/hook/$T" \
    -H 'Content-Type: text/plain' --data-binary 'a < b && c > d'
send_case "CDATA end ]]>" 'x ]]> y' "/hook/$T" \
    -H 'Content-Type: text/plain' --data-binary 'x ]]> y'
INJECT="</body></message><message to='bob@localhost'><body>pwned"
send_case "stanza injection" "$INJECT" "/hook/$T" \
    -H 'Content-Type: text/plain' --data-binary "$INJECT"
send_case "JSON injection" "$INJECT" "/hook/$T" \
    -H 'Content-Type: application/json' \
    --data-binary "{\"body\":\"</body></message><message to='bob@localhost'><body>pwned\"}"

# --- (d) rejected requests (alice must not get anything from these) --------
expect_status() { # expect_status WHAT CODE METHOD PATH CURL-ARGS...
    local what=$1 want=$2 name got
    name=$(safe_name "$what")
    shift 2
    got=$(http "$name" "$@")
    check_eq "$what -> $want" "$want" "$got"
    LAST=$name
}
has_www_auth() {
    grep -qi '^WWW-Authenticate: *Bearer' "$DIR/http/$1.hdr"
}
expect_status "no token" 401 POST /hook -H 'Content-Type: text/plain' \
    --data-binary 'no token'
check "no token: WWW-Authenticate: Bearer" has_www_auth "$LAST"
# T with its first character changed (a fixed "x" would be T itself 1 time in 64).
BAD_T=x${T:1}
[ "${T:0:1}" = x ] && BAD_T=y${T:1}
expect_status "bad token in path" 401 POST "/hook/$BAD_T" \
    -H 'Content-Type: text/plain' --data-binary 'bad token'
expect_status "bad Bearer token" 401 POST /hook \
    -H "Authorization: Bearer ${T}x" -H 'Content-Type: text/plain' \
    --data-binary 'bad bearer'
check "bad Bearer token: WWW-Authenticate: Bearer" has_www_auth "$LAST"
expect_status "to= outside allow_to" 403 POST \
    "/hook/$T?to=someone%40elsewhere.org" -H 'Content-Type: text/plain' \
    --data-binary 'not allowed'
expect_status "form to= outside allow_to" 403 POST "/hook/$T" \
    --data-urlencode 'to=bob@elsewhere.org' --data-urlencode 'body=no'
head -c 100000 /dev/zero | tr '\0' x >"$DIR/big.txt"
expect_status "body over max_body (64k)" 413 POST "/hook/$T" \
    -H 'Content-Type: text/plain' --data-binary "@$DIR/big.txt"
expect_status "Content-Type image/png" 415 POST "/hook/$T" \
    -H 'Content-Type: image/png' --data-binary 'PNG'
expect_status "bad JSON" 400 POST "/hook/$T" \
    -H 'Content-Type: application/json' --data-binary '{"body":'
expect_status "empty body" 400 POST "/hook/$T" \
    -H 'Content-Type: text/plain' --data-binary ''
expect_status "invalid JID in to=" 400 POST "/hook/$T?to=a%20b%40localhost" \
    -H 'Content-Type: text/plain' --data-binary 'bad jid'
check "the 400 names the field: invalid JID in 'to'" \
    grep -q "\"invalid JID in 'to': invalid localpart (nodeprep)\"" \
    "$DIR/http/$LAST.body"
expect_status "unknown path" 404 GET /nope
expect_status "POST to unknown path" 404 POST "/nope/$T" \
    -H 'Content-Type: text/plain' --data-binary 'nope'
expect_status "GET on a hook" 405 GET "/hook/$T"
check "GET on a hook: Allow: POST" grep -qi '^Allow: *POST' \
    "$DIR/http/$LAST.hdr"
expect_status "GET on /hook" 405 GET /hook
expect_status "POST on /health" 405 POST /health \
    -H 'Content-Type: text/plain' --data-binary 'x'

# --- check what alice received ------------------------------------------
N=${#NAMES[@]}
wait_lines "$DIR/alice.jsonl" "$N" 30 ||
    not_ok "alice receives $N messages within 30s (got $(count_lines "$DIR/alice.jsonl"))"
sleep 2 # anything extra (a rejected request that leaked through) shows now
check_eq "alice received exactly $N messages" "$N" \
    "$(count_lines "$DIR/alice.jsonl")"
A=$DIR/alice.jsonl
prev=-1
in_order=1
for name in "${NAMES[@]}"; do
    i=$(index_of_id "$A" "${ID[$name]}")
    if [ -z "$i" ]; then
        not_ok "$name: alice got a message with id ${ID[$name]}"
        in_order=0
        continue
    fi
    [ "$i" -gt "$prev" ] || in_order=0
    prev=$i
    check_eq "$name: body arrives exactly" "${WANT[$name]}" "$(get "$A" "$i" body)"
    check_eq "$name: type chat from alerts@$DOMAIN" \
        "chat alerts@$DOMAIN alice@localhost" \
        "$(get "$A" "$i" type) $(get "$A" "$i" from | cut -d/ -f1) $(get "$A" "$i" to | cut -d/ -f1)"
    check_eq "$name: origin-id equals the id" "${ID[$name]}" \
        "$(get "$A" "$i" origin_id)"
done
check_eq "alice's messages arrive in the order they were posted" 1 "$in_order"
sleep 1
check_eq "bob received nothing (no injection)" 0 "$(count_lines "$DIR/bob.jsonl")"
it_kill "$BOB"
it_kill "$ALICE"

# --- (c) the room ------------------------------------------------------------
code=$(http room POST "/hook/$TOKEN_OPS" -H 'Content-Type: text/plain' \
    --data-binary 'room 🔥 deploy <done> & ok')
check_eq "room hook: 202" 202 "$code"
ROOM_ID=$(answer_id room)
if wait_lines "$DIR/carol.jsonl" 1 30; then
    R=$DIR/carol.jsonl
    check_eq "room message body arrives exactly" 'room 🔥 deploy <done> & ok' \
        "$(get "$R" 0 body)"
    check_eq "room message is groupchat from $ROOM/$BOTNICK" \
        "groupchat $ROOM/$BOTNICK" "$(get "$R" 0 type) $(get "$R" 0 from)"
    check_eq "room message has no <subject>" false "$(get "$R" 0 subject)"
    check_eq "room message keeps its id" "$ROOM_ID" "$(get "$R" 0 id)"
    sleep 1
    check_eq "room got exactly one message" 1 "$(count_lines "$R")"
else
    not_ok "carol receives the room message within 30s"
fi

# --- bots, bounce, kick, members-only room (citizen.sh) ----------------------
citizen_live
# --- SIGHUP: a room removed is left, added again is joined (citizen.sh) -------
citizen_reload_rooms

# --- (e) server restart: the outbox holds messages until the stream is back
srv_stop
if wait_until 30 sh -c "! curl -s --max-time 5 '$BASE/health' |
    grep -qE '\"component\" *: *\"online\"'"; then
    ok "/health leaves online when $SRV_NAME stops"
else
    not_ok "/health leaves online when $SRV_NAME stops ($(health))"
fi
all202=1
for k in 1 2 3 4 5; do
    code=$(http "restart$k" POST "/hook/$TOKEN_ALERTS" \
        -H 'Content-Type: text/plain' --data-binary "restart $k")
    [ "$code" == 202 ] || all202=0
done
check_eq "5 posts while $SRV_NAME is down get 202" 1 "$all202"
srv_start || bail "$SRV_NAME starts again on the same directory"
ok "$SRV_NAME starts again on the same directory"
if wait_until 90 health_online; then
    ok "xmta is online again after the restart"
else
    not_ok "xmta is online again after the restart ($(health))"
fi
wait_until 10 auth_at_least 2 || true
check "$SRV_NAME logged a second component authentication" \
    test "$(auth_lines)" -ge 2
if [ "$OFFLINE_LATE" = 1 ]; then
    collect alice alice2 5 30
else
    collect alice alice2 5 90
fi
check_eq "alice (logged in again) receives 5 messages" 0 $?
got=""
for k in 0 1 2 3 4; do
    got+="$(get "$DIR/alice2.jsonl" $k body);"
done
check_eq "the 5 messages arrive in order" \
    "restart 1;restart 2;restart 3;restart 4;restart 5;" "$got"

# Both rooms are joined again after the reconnect (they are persistent, so
# they survived the restart with carol as their owner, and the bot is still
# a member of the members-only one).
if wait_until 30 sh -c "curl -s --max-time 5 '$BASE/health' |
    grep -qE '\"joined\" *: *2[,}]'"; then
    ok "/health reports both rooms joined again"
else
    not_ok "/health reports both rooms joined again ($(health))"
fi

# --- GET /metrics against the real server (issue 6) --------------------------
metric() { # metric SERIES: its value, empty if absent
    curl -s --max-time 5 "$BASE/metrics" | awk -v s="$1" '$1 == s { print $2 }'
}
metric_ge() { [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }
check_eq "metrics: the stream is up" 1 "$(metric xmta_stream_up)"
check "metrics: the server restart counted as a reconnect" \
    metric_ge xmta_stream_reconnects_total 1
check "metrics: deliveries written (at least the 5 of the restart)" \
    metric_ge xmta_messages_delivered_total 5
check "metrics: deliveries acknowledged by $SRV_NAME" \
    wait_until 10 metric_ge xmta_messages_acknowledged_total 5
check "metrics: accepted messages of hook alerts" \
    metric_ge 'xmta_messages_accepted_total{hook="alerts"}' 5
check_eq "metrics: both rooms joined" 2 "$(metric 'xmta_rooms{state="joined"}')"
check "metrics: the bounce counted by condition" \
    sh -c "curl -s --max-time 5 '$BASE/metrics' |
        grep -qE '^xmta_bounces_total\\{condition=\"[a-z-]+\"\\} [1-9]'"
# No storm limit and no reply_url here: the families exist and stay 0.
check_eq "metrics: nothing storm-folded" 0 "$(metric xmta_storm_folded_total)"
# a few webhooks never make the server the bottleneck: no answer held
check_eq "metrics: no answer held back" 0 "$(metric xmta_answers_held_total)"
check_eq "metrics: no outgoing HTTP" 0 \
    "$(metric 'xmta_fetch_requests_total{outcome="ok"}')"

# --- xmta restart: subscribers see it leave and come back (citizen.sh) -------
citizen_xmta_restart

# --- shutdown --------------------------------------------------------------
kill -TERM "$XMTA_PID"
wait_pid "$XMTA_PID" 20
rc=$?
XMTA_PID=""
check_eq "xmta exits 0 on SIGTERM" 0 "$rc"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$DIR/xmta.log"; then
    not_ok "no sanitizer reports in xmta's log"
else
    ok "no sanitizer reports in xmta's log"
fi
if grep -qF -e "$TOKEN_ALERTS" -e "$TOKEN_OPS" -e "$SECRET" \
    "$DIR/xmta.log" "$DIR/xmta.stdout"; then
    not_ok "xmta's log holds no token or secret"
else
    ok "xmta's log holds no token or secret"
fi
# The only stream error a server may send is ejabberd's system-shutdown
# when it stops (the restart above).
check_eq "$SRV_NAME never closed xmta's stream with an error" 0 \
    "$(grep ' comp stream error ' "$DIR/xmta.log" | grep -vc 'system-shutdown')"
if [ "$SERVER" = prosody ]; then
    check_eq "Prosody logged no component stream error" 0 \
        "$(grep -c 'Disconnecting component, <stream:error>' "$DIR/prosody.log")"
fi
it_summary
