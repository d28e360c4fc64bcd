#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# run_replies.sh -- two-way bots end to end (issue 7): a private Prosody,
# the real daemon, real XMPP clients and a local receiver
# (xmta_reply_receiver) that plays the reply webhook and Alertmanager.
#   - a chat message to a bot arrives at reply_url as JSON with a valid
#     X-Xmta-Signature, and the receiver's answer comes back to the user;
#   - a room message that names the bot is forwarded, answered in the room;
#   - commands in rooms: a commander's in a non-anonymous room runs (her
#     real JID from the MUC presence), others are refused in the room, and
#     a semi-anonymous room refuses them (the JID cannot be checked);
#   - reply URL answering 500, too slow, or not listening: the user gets
#     "Could not deliver your message (...)";
#   - an Alertmanager notification POSTed to the webhook, then "ack" in
#     reply to it (XEP-0461): the fake Alertmanager records a silence for
#     the alert's labels; "alerts" lists what fires; the same as XEP-0050
#     ad-hoc commands;
#   - attachments through Prosody's mod_http_file_share: the text, then a
#     message whose body (and XEP-0066 URL) is the upload URL, whose GET
#     gives exactly the bytes; over the server's limit, over attach_max, a
#     slot the server refuses, a host not allowed: the link and why;
#   - long_body = upload: a body over max_message arrives cut, then as a
#     text file whose GET gives exactly the body; over the server's limit
#     only the cut text arrives (and the log says why).
# Usage: run_replies.sh --xmta PATH --client PATH --receiver PATH
# XMTA_KEEP=1 keeps the temp dir.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=$(cd "$HERE/../fixtures" && pwd)
. "$HERE/lib.sh"
. "$HERE/prosody.sh"

XMTA="" CLIENT="" RECEIVER=""
while [ $# -gt 0 ]; do
    case $1 in
    --xmta) XMTA=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --receiver) RECEIVER=$2; shift 2 ;;
    *) echo "usage: $0 --xmta PATH --client PATH --receiver PATH" >&2; exit 2 ;;
    esac
done
[ -x "$XMTA" ] || { echo "no xmta at '$XMTA'" >&2; exit 2; }
XMTA=$(it_xmta "$XMTA") || exit 2 # valgrind (lib.sh)
[ -x "$CLIENT" ] || { echo "no client at '$CLIENT'" >&2; exit 2; }
[ -x "$RECEIVER" ] || { echo "no receiver at '$RECEIVER'" >&2; exit 2; }

prosody_install_if_missing || exit $?
it_lock 600 || { echo "not ok - another integration run holds the lock"; exit 1; }
# Ports of helper F (15450-15459), used under the integration lock.
HTTP_PORT=15452
RX_PORT=15450
DEAD_PORT=15451
BASE=http://127.0.0.1:$HTTP_PORT
RX=http://127.0.0.1:$RX_PORT
ROOM=ops@conference.localhost
ROOM2=anon@conference.localhost
D=$PROSODY_COMPONENT_DOMAIN
PROSODY_COMPONENT_SECRET=rep-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
SIGKEY=reply-key-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
DIR=$(mktemp -d /tmp/xmta-replies.XXXXXX)
chmod 755 "$DIR"
XMTA_PID=""

cleanup() {
    it_kill_all
    [ -n "$XMTA_PID" ] && it_kill "$XMTA_PID"
    prosody_stop "$DIR"
    if [ "$IT_FAILED" -ne 0 ]; then
        echo "# --- xmta log (tail)"
        tail -n 40 "$DIR/xmta.log" 2>/dev/null | sed 's/^/#   /'
        echo "# --- receiver log"
        sed 's/^/#   /' "$DIR/rx.jsonl" 2>/dev/null
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

# field FILE INDEX NAME: one field of a JSON line of a client's output.
field() { "$CLIENT" --get "$1" "$2" "$3" 2>/dev/null; }
# rx FILTER: jq-less check of the receiver log with a tiny python-free
# approach: the receiver's lines are compact JSON, searched with grep -F.
rx_has() { grep -qF -- "$1" "$DIR/rx.jsonl" 2>/dev/null; }

# ask USER BOT TEXT OUT [--reply-id ID]: USER sends TEXT to BOT and waits
# for one answer (recorded in OUT).
ask() {
    local user=$1 bot=$2 text=$3 out=$4
    shift 4
    "$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" \
        --jid "$user@localhost" --password "$user-pw" --out "$out" \
        --send "$bot@$D" --body "$text" "$@" --expect 1 --timeout 20 \
        >/dev/null 2>>"$DIR/clients.stderr"
}

for p in $HTTP_PORT $RX_PORT $DEAD_PORT; do
    port_open "$p" && bail "port $p is free"
done
# The component, and Prosody's own XEP-0363 service on loopback (its URLs
# name 127.0.0.1, so the test needs no name for it); small files only.
cat >"$DIR/block.lua" <<EOF
Component "$PROSODY_COMPONENT_DOMAIN"
    component_secret = "$PROSODY_COMPONENT_SECRET"
    component_conflict_resolve = "kick_old"

Component "upload.localhost" "http_file_share"
    http_host = "127.0.0.1"
    http_file_share_size_limit = 4096
EOF
prosody_setup "$DIR" "$DIR/block.lua" || bail "Prosody setup"
prosody_start "$DIR" || bail "private Prosody starts"
ok "private Prosody runs"

"$RECEIVER" --port "$RX_PORT" --secret "$SIGKEY" --log "$DIR/rx.jsonl" \
    --slow-ms 6000 >"$DIR/rx.stdout" 2>"$DIR/rx.stderr" &
it_track $!
wait_for_line "$DIR/rx.stdout" ready 10 $! || bail "the receiver listens"

tok() { "$XMTA" token | sed -n "s/^token = //p"; }
T=$(tok)
T2=$(tok)
TF=$(tok)
TL=$(tok)
cat >"$DIR/xmta.ini" <<EOF
[component]
domain = $D
server = 127.0.0.1
port = $PROSODY_COMPONENT_PORT
secret = $PROSODY_COMPONENT_SECRET

[spool]
path = none

[http]
listen = 127.0.0.1:$HTTP_PORT

[hook two]
token = $T2
from = twoway
nick = Two
to = alice@localhost
room = $ROOM
room = $ROOM2
secret = $SIGKEY
reply_url = $RX/reply
reply_timeout = 3
alertmanager_url = $RX/am
commanders = alice@localhost

[hook failing]
token = $(tok)
from = failbot
to = alice@localhost
secret = $SIGKEY
reply_url = $RX/fail

[hook slow]
token = $(tok)
from = slowbot
to = alice@localhost
secret = $SIGKEY
reply_url = $RX/slow
reply_timeout = 1

[hook down]
token = $(tok)
from = downbot
to = alice@localhost
secret = $SIGKEY
reply_url = http://127.0.0.1:$DEAD_PORT/x

[hook files]
token = $TF
from = filebot
to = alice@localhost
attach_hosts = 127.0.0.1
attach_max = 6k

[hook long]
token = $TL
from = longbot
to = alice@localhost
max_message = 300
long_body = upload

[hook am]
token = $T
from = ambot
to = alice@localhost
secret = $SIGKEY
reply_url = $RX/reply
alertmanager_url = $RX/am
commanders = alice@localhost
EOF
"$XMTA" check -c "$DIR/xmta.ini" >"$DIR/check.out" 2>&1 ||
    bail "xmta check accepts reply_url, alertmanager_url, commanders ($(cat "$DIR/check.out"))"
ok "xmta check accepts reply_url, alertmanager_url, commanders"

# bob creates the rooms before xmta joins them (xmta never creates rooms),
# and stays in them; lines appended to bob.ctl are sent as he speaks. He
# makes $ROOM non-anonymous (everyone sees real JIDs); $ROOM2 stays
# semi-anonymous (Prosody's default: only moderators see them).
: >"$DIR/bob.ctl"
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid bob@localhost \
    --password bob-pw --join "$ROOM/bob" --join "$ROOM2/bob" \
    --out "$DIR/bob.jsonl" --stanzas "$DIR/bob.stanzas" \
    --control "$DIR/bob.ctl" --expect 0 --duration 120 --timeout 130 \
    --raw "<iq type='set' to='$ROOM' id='whois-1'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_whois'><value>anyone</value></field></x></query></iq>" \
    >"$DIR/bob.stdout" 2>>"$DIR/clients.stderr" &
BOB=$!
it_track "$BOB"
wait_for_line "$DIR/bob.stdout" ready 20 "$BOB" || bail "bob creates and joins $ROOM and $ROOM2"
for ((i = 0; i < 100; i++)); do
    grep -qE "id=.whois-1.*type=.result|type=.result.*id=.whois-1" "$DIR/bob.stanzas" 2>/dev/null && break
    sleep 0.1
done
check "bob makes $ROOM non-anonymous" \
    grep -qE "id=.whois-1.*type=.result|type=.result.*id=.whois-1" "$DIR/bob.stanzas"

"$XMTA" -v -c "$DIR/xmta.ini" >"$DIR/xmta.stdout" 2>"$DIR/xmta.log" </dev/null &
XMTA_PID=$!
for ((i = 0; i < 150; i++)); do
    curl -s --max-time 2 "$BASE/health" | grep -qE '"joined" *: *2[,}]' && break
    sleep 0.2
done
curl -s --max-time 2 "$BASE/health" | grep -qE '"joined" *: *2[,}]' ||
    bail "xmta is online and in $ROOM and $ROOM2"
ok "xmta is online and in $ROOM and $ROOM2"

# --- a chat message, answered ------------------------------------------------
ask alice twoway "hello there" "$DIR/a1.jsonl" || not_ok "alice gets an answer"
check_eq "the receiver's answer comes back" "pong: hello there" \
    "$(field "$DIR/a1.jsonl" 0 body)"
check_eq "... from the bot" "twoway@$D" "$(field "$DIR/a1.jsonl" 0 from)"
check "the receiver got signed JSON (HMAC checked)" \
    rx_has '"path":"/reply","sig_ok":true'
check "... with hook, to, body, room null" \
    rx_has "\"hook\":\"two\",\"from\":\"alice@localhost/"
check "... to is the bot" rx_has "\"to\":\"twoway@$D\",\"room\":null"
check "... the body as typed" rx_has '"body":"hello there"'

# --- the room ----------------------------------------------------------------
echo "<message to='$ROOM' type='groupchat' id='g-1'><body>lunch?</body></message>" >>"$DIR/bob.ctl"
echo "<message to='$ROOM' type='groupchat' id='g-2'><body>Two: status please</body></message>" >>"$DIR/bob.ctl"
for ((i = 0; i < 100; i++)); do
    grep -qF '"body":"pong: status please"' "$DIR/bob.jsonl" 2>/dev/null && break
    sleep 0.1
done
check "a room message naming the bot is answered in the room" \
    grep -qF "\"from\":\"$ROOM/Two\",\"to\":\"bob@localhost/" "$DIR/bob.jsonl"
check "... with the answer text" grep -qF '"body":"pong: status please"' "$DIR/bob.jsonl"
check "... forwarded with room, nick and the text after the address" \
    rx_has "\"room\":\"$ROOM\",\"nick\":\"bob\",\"body\":\"Two: status please\",\"text\":\"status please\""
check "room talk not naming the bot is not forwarded" bash -c "! grep -qF '\"body\":\"lunch?\"' '$DIR/rx.jsonl'"
check "... with bob's real JID (the room is non-anonymous)" \
    rx_has '"text":"status please","id":"g-2","in_reply_to":null,"jid":"bob@localhost"'

# --- commands in rooms ---------------------------------------------------------
# alice (a commander) joins $ROOM; the room shows xmta her real JID.
: >"$DIR/alice-room.ctl"
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --join "$ROOM/alice" --out "$DIR/alice-room.jsonl" \
    --control "$DIR/alice-room.ctl" --expect 0 --duration 30 --timeout 40 \
    >"$DIR/alice-room.stdout" 2>>"$DIR/clients.stderr" &
it_track $!
wait_for_line "$DIR/alice-room.stdout" ready 20 $! || bail "alice joins $ROOM"
# room_answer FILE TEXT: waits until FILE has a message from the bot in the
# room with exactly TEXT.
room_answer() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
echo "<message to='$ROOM' type='groupchat' id='rc-1'><body>Two, alerts</body></message>" >>"$DIR/alice-room.ctl"
check "a commander's command in the room is answered in the room" \
    room_answer "$DIR/alice-room.jsonl" '"body":"2 alerts firing:\n• DiskFull on db1:9100: Disk 95% full\n• Watchdog"'
check "... as groupchat from the bot's nick" \
    grep -qF "\"from\":\"$ROOM/Two\",\"to\":\"alice@localhost/" "$DIR/alice-room.jsonl"
echo "<message to='$ROOM' type='groupchat' id='rc-2'><body>Two: silence 1h alertname=Watchdog</body></message>" >>"$DIR/alice-room.ctl"
check "silence from a commander in the room: created" \
    room_answer "$DIR/alice-room.jsonl" '"body":"Silenced for 1h (silence sil-1): alertname=Watchdog"'
check "... created by her real JID" \
    rx_has '"matchers":[{"name":"alertname","value":"Watchdog","isRegex":false,"isEqual":true}],"startsAt"'
check "... createdBy alice@localhost" \
    bash -c "grep -F 'Watchdog' '$DIR/rx.jsonl' | grep -qF '\"createdBy\":\"alice@localhost\"'"
echo "<message to='$ROOM' type='groupchat' id='rc-3'><body>Two: silence 1h alertname=Watchdog</body></message>" >>"$DIR/bob.ctl"
check "bob (not a commander) is refused in the room" \
    room_answer "$DIR/bob.jsonl" '"body":"You are not allowed to run commands here."'
echo "<message to='$ROOM2' type='groupchat' id='rc-4'><body>Two: alerts</body></message>" >>"$DIR/bob.ctl"
check "a semi-anonymous room: refused, since the JID cannot be checked" \
    room_answer "$DIR/bob.jsonl" "\"from\":\"$ROOM2/Two\",\"to\":\"bob@localhost/"
check "... with a short reply" \
    grep -qF '"body":"I cannot see your JID in this room: send the command to me in a direct chat."' "$DIR/bob.jsonl"
check_eq "only the commander's silence reached Alertmanager" 1 \
    "$(grep -c '"path":"/am/api/v2/silences"' "$DIR/rx.jsonl")"
check "xmta sent no error stanza to the rooms (its log of what it sends)" \
    bash -c "! grep -F 'comp send <' '$DIR/xmta.log' | grep -F \"type='error'\" | grep -qE \"to='($ROOM|$ROOM2)\""
check "... while it logs what it sends" grep -qE "comp send <message [^>]*type='groupchat'" "$DIR/xmta.log"

# An alert in the room, then "ack" as a XEP-0461 reply from a client: in a
# room the reply names the room's stanza-id (mod_muc_mam), not xmta's id.
SIG=$("$RECEIVER" --secret "$SIGKEY" --sign "$FIX/alertmanager_firing.json")
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' -H "X-Xmta-Signature: $SIG" \
    --data-binary "@$FIX/alertmanager_firing.json" "$BASE/hook/$T2")
check_eq "an Alertmanager alert to the room hook is accepted" 202 "$code"
room_alert() {
    grep -F "\"type\":\"groupchat\",\"from\":\"$ROOM/Two\"" \
        "$DIR/alice-room.jsonl" 2>/dev/null | grep -F 'FIRING [5] DiskFull' | head -1
}
for ((i = 0; i < 100; i++)); do
    [ -n "$(room_alert)" ] && break
    sleep 0.1
done
line=$(room_alert)
SID=$(printf '%s' "$line" | sed -n 's/.*"stanza_id":"\([^"]*\)".*/\1/p')
MID=$(printf '%s' "$line" | sed -n 's/.*"origin_id":"\([^"]*\)".*/\1/p')
check "the room gives the alert a stanza-id of its own" \
    test -n "$SID" -a -n "$MID" -a "$SID" != "$MID"
echo "<message to='$ROOM' type='groupchat' id='rc-5'><body>Two: ack</body><reply xmlns='urn:xmpp:reply:0' to='$ROOM/Two' id='$SID'/></message>" >>"$DIR/alice-room.ctl"
check "ack in reply to the room alert (by its stanza-id): a silence for its labels" \
    room_answer "$DIR/alice-room.jsonl" '"body":"Silenced for 2h (silence sil-2): alertname=DiskFull, env=prod, severity=critical"'

# --- failures ----------------------------------------------------------------
ask alice failbot "one" "$DIR/f1.jsonl"
check_eq "reply_url answers 500: the user is told" \
    "Could not deliver your message (HTTP 500). Please try again later." \
    "$(field "$DIR/f1.jsonl" 0 body)"
t0=$(date +%s)
ask alice slowbot "two" "$DIR/f2.jsonl"
check_eq "reply_url too slow: the user is told" \
    "Could not deliver your message (no answer in time). Please try again later." \
    "$(field "$DIR/f2.jsonl" 0 body)"
check "... after about reply_timeout (1 s), not the receiver's 6 s" \
    test $(($(date +%s) - t0)) -lt 6
ask alice downbot "three" "$DIR/f3.jsonl"
check_eq "reply_url not listening: the user is told" \
    "Could not deliver your message (unreachable). Please try again later." \
    "$(field "$DIR/f3.jsonl" 0 body)"

# --- Alertmanager: ack in reply to an alert ----------------------------------
: >"$DIR/alice.ctl"
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/am.jsonl" --control "$DIR/alice.ctl" \
    --expect 0 --duration 60 --timeout 70 \
    >"$DIR/alice.stdout" 2>>"$DIR/clients.stderr" &
ALICE=$!
it_track "$ALICE"
wait_for_line "$DIR/alice.stdout" ready 20 "$ALICE" || bail "alice is online"
# (the hook's secret also signs what it is sent: sign the notification)
SIG=$("$RECEIVER" --secret "$SIGKEY" --sign "$FIX/alertmanager_firing.json")
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' -H "X-Xmta-Signature: $SIG" \
    --data-binary "@$FIX/alertmanager_firing.json" "$BASE/hook/$T")
check_eq "the Alertmanager notification is accepted" 202 "$code"
wait_lines "$DIR/am.jsonl" 1 20 || bail "alice receives the alert"
ALERT_ID=$(field "$DIR/am.jsonl" 0 id)
check "the alert has an id" test -n "$ALERT_ID"
echo "<message to='ambot@$D' type='chat' id='ack-1'><body>ack</body><reply xmlns='urn:xmpp:reply:0' to='ambot@$D' id='$ALERT_ID'/></message>" >>"$DIR/alice.ctl"
wait_lines "$DIR/am.jsonl" 2 20
check_eq "ack: a silence for the alert's labels" \
    "Silenced for 2h (silence sil-3): alertname=DiskFull, env=prod, severity=critical" \
    "$(field "$DIR/am.jsonl" 1 body)"
check "the fake Alertmanager recorded the silence" \
    rx_has '"path":"/am/api/v2/silences","sig_ok":null,"body":{"matchers":[{"name":"alertname","value":"DiskFull","isRegex":false,"isEqual":true},{"name":"env","value":"prod","isRegex":false,"isEqual":true},{"name":"severity","value":"critical","isRegex":false,"isEqual":true}]'
check "... created by alice" rx_has '"createdBy":"alice@localhost"'
echo "<message to='ambot@$D' type='chat' id='al-1'><body>alerts</body></message>" >>"$DIR/alice.ctl"
wait_lines "$DIR/am.jsonl" 3 20
check_eq "alerts: what is firing" \
    "2 alerts firing:
• DiskFull on db1:9100: Disk 95% full
• Watchdog" "$(field "$DIR/am.jsonl" 2 body)"
echo "<message to='ambot@$D' type='chat' id='hi-1'><body>hi</body></message>" >>"$DIR/alice.ctl"
wait_lines "$DIR/am.jsonl" 4 20
check_eq "other text still goes to reply_url" "pong: hi" "$(field "$DIR/am.jsonl" 3 body)"
check "... with in_reply_to: the newest alert to alice" \
    rx_has "\"body\":\"hi\",\"text\":\"hi\",\"id\":\"hi-1\",\"in_reply_to\":\"$ALERT_ID\""

# XEP-0050: the same actions as ad-hoc commands (a client's command menu).
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --stanzas "$DIR/adhoc.xml" --expect 0 --duration 3 \
    --timeout 20 \
    --raw "<iq type='get' to='ambot@$D' id='ah-1'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>" \
    --raw "<iq type='set' to='ambot@$D' id='ah-2'><command xmlns='http://jabber.org/protocol/commands' node='alerts' action='execute'/></iq>" \
    --raw "<iq type='set' to='ambot@$D' id='ah-3'><command xmlns='http://jabber.org/protocol/commands' node='silence' action='execute'/></iq>" \
    >/dev/null 2>>"$DIR/clients.stderr"
check "ad-hoc: the bot lists its commands" \
    grep -qE "id=.ah-1.*node=.alerts.*node=.silence" "$DIR/adhoc.xml"
check "ad-hoc: alerts completes with the list" \
    grep -qE "id=.ah-2.*status=.completed.*2 alerts firing:" "$DIR/adhoc.xml"
check "ad-hoc: silence offers a form prefilled with the alert's labels" \
    grep -qE "id=.ah-3.*status=.executing.*<value>alertname=DiskFull</value><value>env=prod</value><value>severity=critical</value>" "$DIR/adhoc.xml"

# --- attachments (XEP-0363 on Prosody's mod_http_file_share) ------------------
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/files.jsonl" --expect 6 --timeout 40 \
    >"$DIR/files.stdout" 2>>"$DIR/clients.stderr" &
FILES=$!
it_track "$FILES"
wait_for_line "$DIR/files.stdout" ready 20 "$FILES" || bail "alice is online for files"
fpost() {
    curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$1" "$BASE/hook/$TF"
}
check_eq "a webhook with an attach URL is accepted" 202 \
    "$(fpost "{\"body\":\"Graph attached\",\"attach\":\"$RX/file/3000.png\"}")"
wait_lines "$DIR/files.jsonl" 2 20
check_eq "the text comes first, as its own message" "Graph attached" \
    "$(field "$DIR/files.jsonl" 0 body)"
URL=$(field "$DIR/files.jsonl" 1 body)
case $URL in
http://127.0.0.1:$PROSODY_HTTP_PORT/file_share/*/3000.png) ok "then a message whose body is the upload URL" ;;
*) not_ok "then a message whose body is the upload URL"; printf '#   got %q\n' "$URL" ;;
esac
check_eq "... with the same URL in XEP-0066 OOB" "$URL" \
    "$(field "$DIR/files.jsonl" 1 oob)"
curl -sS --max-time 10 -o "$DIR/got.png" "$URL" 2>>"$DIR/curl.stderr"
curl -sS --max-time 10 -o "$DIR/want.png" "$RX/file/3000.png" 2>>"$DIR/curl.stderr"
check "GET on the URL returns exactly the bytes" cmp -s "$DIR/got.png" "$DIR/want.png"
check_eq "... all 3000 of them" 3000 "$(wc -c <"$DIR/got.png" | tr -d ' ')"

check_eq "an attachment the server's limit refuses is accepted" 202 \
    "$(fpost "{\"body\":\"Too big\",\"attach\":\"$RX/file/5000.png\"}")"
wait_lines "$DIR/files.jsonl" 4 20
check_eq "... the text arrives" "Too big" "$(field "$DIR/files.jsonl" 2 body)"
check_eq "... then the link and why" \
    "📎 $RX/file/5000.png (not attached: 5000 bytes, the server takes at most 4096)" \
    "$(field "$DIR/files.jsonl" 3 body)"
fpost "{\"body\":\"Huge\",\"attach\":\"$RX/file/9000.png\"}" >/dev/null
wait_lines "$DIR/files.jsonl" 6 20
check_eq "an attachment over attach_max: the link and why" \
    "📎 $RX/file/9000.png (not attached: larger than attach_max)" \
    "$(field "$DIR/files.jsonl" 5 body)"

# --- long_body = upload: the cut text, then the whole body as a file ----------
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/long.jsonl" --expect 3 --timeout 40 \
    >"$DIR/long.stdout" 2>>"$DIR/clients.stderr" &
LONG=$!
it_track "$LONG"
wait_for_line "$DIR/long.stdout" ready 20 "$LONG" || bail "alice is online for long bodies"
# 30 lines (UTF-8, about 1.9 kB, no final newline: bodies are trimmed).
for i in $(seq -w 1 30); do
    printf 'line %s: disk /var/lib/früh is 9%s%% full — €%s\n' "$i" "$i" "$i"
done | head -c -1 >"$DIR/long.txt"
lpost() {
    curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: text/plain; charset=utf-8' --data-binary "@$1" \
        "$BASE/hook/$TL"
}
check_eq "a body over max_message is accepted" 202 "$(lpost "$DIR/long.txt")"
wait_lines "$DIR/long.jsonl" 2 20
INLINE=$(field "$DIR/long.jsonl" 0 body)
case $INLINE in
"line 01: disk /var/lib/früh is 901% full — €01"*"… (2"?" more lines)") ok "the first lines come inline, cut at max_message" ;;
*) not_ok "the first lines come inline, cut at max_message"; printf '#   got %q\n' "$INLINE" ;;
esac
check "... within 300 characters" test "$(printf '%s' "$INLINE" | wc -m)" -le 300
LURL=$(field "$DIR/long.jsonl" 1 body)
case $LURL in
http://127.0.0.1:$PROSODY_HTTP_PORT/file_share/*/message.txt) ok "then a message whose body is the text file's URL" ;;
*) not_ok "then a message whose body is the text file's URL"; printf '#   got %q\n' "$LURL" ;;
esac
check_eq "... with the same URL in XEP-0066 OOB" "$LURL" "$(field "$DIR/long.jsonl" 1 oob)"
curl -sS --max-time 10 -D "$DIR/long.hdr" -o "$DIR/long.got" "$LURL" 2>>"$DIR/curl.stderr"
check "GET on the URL returns exactly the whole body" cmp -s "$DIR/long.got" "$DIR/long.txt"
check "... as text/plain; charset=utf-8" grep -qi '^content-type: text/plain; *charset=utf-8' "$DIR/long.hdr"
# Over the server's 4096-byte limit: the upload fails, the cut text stays.
for i in $(seq -w 1 100); do
    printf 'row %s: disk /var/lib/früh is 9%s%% full — €%s\n' "$i" "$i" "$i"
done | head -c -1 >"$DIR/long2.txt"
check_eq "a body over the server's upload limit is accepted" 202 "$(lpost "$DIR/long2.txt")"
wait_lines "$DIR/long.jsonl" 3 20
INLINE2=$(field "$DIR/long.jsonl" 2 body)
case $INLINE2 in
"row 001: "*"… (9"?" more lines)") ok "upload refused: the cut text still arrives" ;;
*) not_ok "upload refused: the cut text still arrives"; printf '#   got %q\n' "$INLINE2" ;;
esac
for ((i = 0; i < 50; i++)); do
    grep -q 'long message ([0-9]* bytes) not uploaded' "$DIR/xmta.log" && break
    sleep 0.1
done
check "... and the log says why" \
    grep -qE 'long: long message \([0-9]+ bytes\) not uploaded: [0-9]+ bytes, the server takes at most 4096; the recipients have it cut at max_message only' "$DIR/xmta.log"
sleep 1
check_eq "... and nothing else is sent" 3 "$(wc -l <"$DIR/long.jsonl" | tr -d ' ')"
mval() { curl -s --max-time 5 "$BASE/metrics" | awk -v s="$1" '$1 == s { print $2 }'; }
check_eq "metrics: long bodies sent as files" 1 "$(mval 'xmta_long_bodies_total{outcome="file"}')"
check_eq "metrics: long bodies cut only" 1 "$(mval 'xmta_long_bodies_total{outcome="cut"}')"

# A slot the server itself refuses: with upload_service set xmta does no
# disco (so knows no size limit) and asks; and a host not in attach_hosts.
it_kill "$XMTA_PID"
sed -i "s/^secret = $PROSODY_COMPONENT_SECRET\$/&\nupload_service = upload.localhost/" "$DIR/xmta.ini"
check "upload_service is in the config" grep -qx 'upload_service = upload.localhost' "$DIR/xmta.ini"
"$XMTA" -v -c "$DIR/xmta.ini" >>"$DIR/xmta.stdout" 2>>"$DIR/xmta.log" </dev/null &
XMTA_PID=$!
for ((i = 0; i < 150; i++)); do
    curl -s --max-time 2 "$BASE/health" | grep -qE '"component" *: *"online"' && break
    sleep 0.2
done
"$CLIENT" --host 127.0.0.1 --port "$PROSODY_C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/files2.jsonl" --expect 4 --timeout 40 \
    >"$DIR/files2.stdout" 2>>"$DIR/clients.stderr" &
it_track $!
wait_for_line "$DIR/files2.stdout" ready 20 $! || bail "alice is online again"
check_eq "with upload_service: accepted" 202 \
    "$(fpost "{\"body\":\"Refused\",\"attach\":\"$RX/file/5000.png\"}")"
wait_lines "$DIR/files2.jsonl" 2 20
check_eq "the server refuses the slot: the link and its condition" \
    "📎 $RX/file/5000.png (not attached: slot refused (not-acceptable))" \
    "$(field "$DIR/files2.jsonl" 1 body)"
fpost "{\"body\":\"Elsewhere\",\"attach\":\"http://localhost:$RX_PORT/file/10.png\"}" >/dev/null
wait_lines "$DIR/files2.jsonl" 4 20
check_eq "a host not in attach_hosts is not fetched: the link" \
    "📎 http://localhost:$RX_PORT/file/10.png (not attached: host not in attach_hosts)" \
    "$(field "$DIR/files2.jsonl" 3 body)"
check "... and nothing asked the receiver for it" \
    bash -c "! grep -qF '/file/10.png' '$DIR/rx.jsonl'"

check "the signing key is not in the log" bash -c "! grep -qF '$SIGKEY' '$DIR/xmta.log'"
# /metrics counts the outgoing HTTP of this (second) run: the upload slot
# refused and the host not allowed both fell back to links.
check_eq "metrics: attachments sent as links" 2 "$(mval 'xmta_uploads_total{outcome="link"}')"
check_eq "metrics: no attachment sent as a file" 0 "$(mval 'xmta_uploads_total{outcome="file"}')"
it_summary
