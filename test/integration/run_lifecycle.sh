#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# run_lifecycle.sh -- the alert lifecycle end to end (issue 5): a private
# Prosody 0.12 or ejabberd 23.01 (the same cases on both), the real daemon
# and a real XMPP client (alice).
#  - on_resolve = correct: an Alertmanager group firing, then resolved; the
#    resolved message alice receives carries <replace id> equal to the
#    firing message's id and comes from the same full JID
#    (am@DOMAIN/alert-<12 hex>).
#  - the status board: alice, subscribed to the bot, sees its presence go
#    dnd "1 firing" and back to "all clear"; carol, in the room the hook
#    also sends to, sees the bot's occupant presence do the same, and
#    gets the groupchat messages without <replace/>.
#  - heartbeat = 2s: no webhook for 2 s turns the bot's presence xa "no
#    heartbeat since HH:MM" with one message; a webhook brings one "back"
#    message and available presence; the webhooks are not forwarded.
#  - GET /metrics: the lifecycle's families and their values.
#  - the group fires again (a new message) and the heartbeat goes missing
#    again; xmta restarts on its spool: the heartbeat is still missing
#    (xa, no second message; the next webhook is "back"), and the
#    resolved notification still corrects the firing message.
# A server that cannot be installed or started fails the run.
# Usage: run_lifecycle.sh prosody|ejabberd --xmta PATH/xmta
#                         --client PATH/xmta_test_client
# XMTA_KEEP=1 keeps the temp dir.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

it_server_args "$@"

# The server backends (server.sh, as in run_server.sh).
. "$HERE/server.sh" || it_usage

if ! srv_install; then
    echo "not ok - $SERVER is installed"
    exit 1
fi
it_lock 600 || { echo "not ok - another integration run holds the lock"; exit 1; }
HTTP_PORT=${XMTA_HTTP_PORT:-18080}
BASE=http://127.0.0.1:$HTTP_PORT
SECRET=life-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
DOMAIN=notify.localhost
DIR=$(mktemp -d /tmp/xmta-life.XXXXXX)
chmod 755 "$DIR"
XMTA_PID=""

cleanup() {
    it_kill_all
    [ -n "$XMTA_PID" ] && it_kill "$XMTA_PID"
    srv_stop
    if [ "$IT_FAILED" -ne 0 ]; then
        echo "# --- xmta log (tail)"
        tail -n 60 "$DIR/xmta.log" 2>/dev/null | sed 's/^/#   /'
        echo "# --- $(srv_log) (tail)"
        tail -n 40 "$(srv_log)" 2>/dev/null | sed 's/^/#   /'
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

# line_has FILE TEXT...: some line of FILE holds every TEXT.
line_has() {
    local file=$1 line t
    shift
    [ -f "$file" ] || return 1
    while IFS= read -r line; do
        for t in "$@"; do
            case $line in *"$t"*) ;; *) continue 2 ;; esac
        done
        return 0
    done <"$file"
    return 1
}

# wait_has SECONDS FILE TEXT...: until line_has holds.
wait_has() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        line_has "$@" && return 0
        sleep 0.1
    done
    return 1
}

# The bot's newest available presence to alice (one serialized stanza).
last_presence() {
    grep -F "<presence" "$S" | grep -F "from=\"$1@$DOMAIN/xmta\"" |
        grep -vF 'type=' | tail -n 1
}

# presence_is BOT TEXT...: until the newest presence of BOT holds every
# TEXT (10 s at most).
presence_is() {
    local bot=$1 i p t
    shift
    for ((i = 0; i < 100; i++)); do
        p=$(last_presence "$bot")
        local all=1
        for t in "$@"; do
            case $p in *"$t"*) ;; *) all=0 ;; esac
        done
        [ "$all" -eq 1 ] && return 0
        sleep 0.1
    done
    echo "# newest presence of $bot: $p"
    return 1
}

# room_presence_is [NICK] TEXT...: until the newest presence carol got
# from a bot's occupant JID ($ROOM/NICK, default am) holds every TEXT
# (10 s at most).
room_presence_is() {
    local i p t all nick=am
    case ${1:-} in "<"*) ;; *) nick=$1; shift ;; esac
    for ((i = 0; i < 100; i++)); do
        p=$(grep -F "<presence" "$C" | grep -F "from=\"$ROOM/$nick\"" |
            grep -vF 'type=' | tail -n 1)
        all=1
        for t in "$@"; do
            case $p in *"$t"*) ;; *) all=0 ;; esac
        done
        [ "$all" -eq 1 ] && return 0
        sleep 0.1
    done
    echo "# newest presence of $ROOM/$nick: $p"
    return 1
}

# post TOKEN JSON: prints the HTTP status.
post() {
    curl -sS --max-time 15 -X POST -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$2" \
        "$BASE/hook/$1" 2>>"$DIR/curl.stderr"
}

# An Alertmanager v4 payload for group KEY with STATUS and alert DiskFull.
am_payload() {
    local status=$1 ends=0001-01-01T00:00:00Z
    [ "$status" = resolved ] && ends=2024-05-01T12:41:00Z
    cat <<EOF
{"version":"4","groupKey":"{}:{alertname=\"DiskFull\"}","truncatedAlerts":0,
 "status":"$status","receiver":"xmpp","groupLabels":{"alertname":"DiskFull"},
 "commonLabels":{"alertname":"DiskFull","instance":"db1"},
 "commonAnnotations":{"summary":"Disk full on db1"},
 "externalURL":"http://am:9093",
 "alerts":[{"status":"$status","labels":{"alertname":"DiskFull",
 "instance":"db1"},"annotations":{"summary":"Disk full on db1"},
 "startsAt":"2024-05-01T12:03:00Z","endsAt":"$ends",
 "generatorURL":"http://prom:9090/graph","fingerprint":"abc123"}]}
EOF
}

WATCHDOG='{"version":"4","groupKey":"{}:{alertname=\"Watchdog\"}","status":"firing","receiver":"wd","groupLabels":{},"commonLabels":{"alertname":"Watchdog"},"commonAnnotations":{},"externalURL":"http://am:9093","alerts":[{"status":"firing","labels":{"alertname":"Watchdog"},"annotations":{},"startsAt":"2024-05-01T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"w1"}]}'

port_open "$HTTP_PORT" && bail "port $HTTP_PORT is free for xmta"
ROOM=board@conference.localhost
T_AM=$("$XMTA" token | sed -n "s/^token = //p")
T_WD=$("$XMTA" token | sed -n "s/^token = //p")
cat >"$DIR/xmta.ini" <<EOF
[component]
domain = $DOMAIN
server = 127.0.0.1
port = $COMPONENT_PORT
secret = $SECRET

[spool]
path = $DIR/spool

[http]
listen = 127.0.0.1:$HTTP_PORT

[hook am]
token = $T_AM
from = am
to = alice@localhost
room = $ROOM
on_resolve = correct

[hook wd]
token = $T_WD
from = wd
to = alice@localhost
heartbeat = 2s
room = $ROOM
EOF
"$XMTA" check -c "$DIR/xmta.ini" >"$DIR/check.out" 2>&1 ||
    bail "xmta check accepts the config ($(cat "$DIR/check.out"))"
ok "xmta check accepts on_resolve and heartbeat"

# The server is configured with exactly what `xmta setup` prints.
"$XMTA" setup "$SERVER" -c "$DIR/xmta.ini" >"$DIR/setup.block" 2>"$DIR/setup.err" ||
    bail "xmta setup $SERVER -c xmta.ini ($(cat "$DIR/setup.err"))"
srv_setup "$DIR/setup.block" || bail "$SRV_NAME setup (config, users)"
srv_start || bail "private $SRV_NAME starts"
ok "private $SRV_NAME runs"

# Config errors name the file and line.
sed 's/^on_resolve = correct/on_resolve = edit/' "$DIR/xmta.ini" >"$DIR/bad.ini"
out=$("$XMTA" check -c "$DIR/bad.ini" 2>&1)
check_eq "bad on_resolve: FILE:LINE" \
    "$DIR/bad.ini:18: bad on_resolve 'edit': expected new or correct" "$out"
sed 's/^heartbeat = 2s/heartbeat = 2w/' "$DIR/xmta.ini" >"$DIR/bad.ini"
out=$("$XMTA" check -c "$DIR/bad.ini" 2>&1)
case $out in
"$DIR/bad.ini:24: bad heartbeat '2w'"*) ok "bad heartbeat: FILE:LINE" ;;
*) not_ok "bad heartbeat: FILE:LINE (got: $out)" ;;
esac

# carol creates the room before xmta joins it (xmta never creates rooms).
C=$DIR/carol.stanzas
"$CLIENT" --host 127.0.0.1 --port "$C2S_PORT" --jid carol@localhost \
    --password carol-pw --join "$ROOM/carol" --out "$DIR/carol.jsonl" \
    --stanzas "$C" --expect 0 --duration 60 --timeout 70 \
    >"$DIR/carol.stdout" 2>"$DIR/carol.stderr" &
CAROL=$!
it_track "$CAROL"
wait_for_line "$DIR/carol.stdout" ready 20 "$CAROL" || bail "carol creates $ROOM"

# start_xmta: the daemon in the background (its log appended), online.
start_xmta() {
    local i
    "$XMTA" -v -c "$DIR/xmta.ini" >>"$DIR/xmta.stdout" 2>>"$DIR/xmta.log" </dev/null &
    XMTA_PID=$!
    for ((i = 0; i < 150; i++)); do
        curl -s --max-time 2 "$BASE/health" | grep -qE '"component" *: *"online"' &&
            return 0
        sleep 0.2
    done
    return 1
}
start_xmta || bail "xmta is online"
ok "xmta is online"
# The heartbeat starts now: one webhook in time (202, not forwarded).
# (the minute before and after it: the status names one of them)
WD_AT0=$(date +%H:%M)
check_eq "watchdog webhook: 202" 202 "$(post "$T_WD" "$WATCHDOG")"
WD_AT=$(date +%H:%M)

J=$DIR/alice.jsonl
S=$DIR/alice.stanzas
"$CLIENT" --host 127.0.0.1 --port "$C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$J" --stanzas "$S" --expect 0 --duration 60 \
    --timeout 70 \
    --raw "<presence type='subscribe' to='am@$DOMAIN'/>" \
    --raw "<presence type='subscribe' to='wd@$DOMAIN'/>" \
    >"$DIR/alice.stdout" 2>"$DIR/alice.stderr" &
ALICE=$!
it_track "$ALICE"
wait_for_line "$DIR/alice.stdout" ready 20 "$ALICE" || bail "alice is online"
check "status board: am is 'all clear' once subscribed" \
    presence_is am '<status>all clear</status>'

# --- on_resolve = correct ----------------------------------------------
check_eq "firing: 202" 202 "$(post "$T_AM" "$(am_payload firing)")"
wait_has 10 "$J" "\"from\":\"am@$DOMAIN/alert-" || bail "alice gets the firing message"
F_LINE=$(grep -n "\"from\":\"am@$DOMAIN/alert-" "$J" | head -n 1 | cut -d: -f1)
F_ID=$("$CLIENT" --get "$J" $((F_LINE - 1)) id)
F_FROM=$("$CLIENT" --get "$J" $((F_LINE - 1)) from)
F_REPL=$("$CLIENT" --get "$J" $((F_LINE - 1)) replace)
case $F_FROM in
"am@$DOMAIN/alert-"????????????) ok "firing comes from the group's full JID ($F_FROM)" ;;
*) not_ok "firing comes from am@$DOMAIN/alert-<12 hex> (got $F_FROM)" ;;
esac
check_eq "firing is a new message (no replace)" "" "$F_REPL"
check "status board: am is dnd '1 firing'" \
    presence_is am '<show>dnd</show>' '<status>1 firing</status>'
check "status board in the room: $ROOM/am is dnd '1 firing'" \
    room_presence_is '<show>dnd</show>' '<status>1 firing</status>'

check_eq "resolved: 202" 202 "$(post "$T_AM" "$(am_payload resolved)")"
wait_has 10 "$J" "\"replace\":\"$F_ID\"" || not_ok "alice gets a correction of $F_ID"
R_LINE=$(grep -n "\"replace\":\"$F_ID\"" "$J" | head -n 1 | cut -d: -f1)
if [ -n "$R_LINE" ]; then
    R_FROM=$("$CLIENT" --get "$J" $((R_LINE - 1)) from)
    R_BODY=$("$CLIENT" --get "$J" $((R_LINE - 1)) body)
    R_ID=$("$CLIENT" --get "$J" $((R_LINE - 1)) id)
    check_eq "the correction comes from the same full JID" "$F_FROM" "$R_FROM"
    check "the correction is a new stanza id" test "$R_ID" != "$F_ID"
    case $R_BODY in
    *RESOLVED*) ok "the correction's body is the resolved text" ;;
    *) not_ok "the correction's body is the resolved text (got: $R_BODY)" ;;
    esac
fi
check "status board: am back to 'all clear' (no show)" \
    presence_is am '<status>all clear</status>'
p=$(last_presence am)
case $p in *"<show>"*) not_ok "all clear has no <show> ($p)" ;; *) ok "all clear has no <show>" ;; esac
check "status board in the room: $ROOM/am back to 'all clear'" \
    room_presence_is '<status>all clear</status>'
# The room got both notifications as groupchat, neither a correction.
wait_has 10 "$DIR/carol.jsonl" "\"from\":\"$ROOM/am\"" RESOLVED ||
    not_ok "carol gets the resolved groupchat message"
n=$(grep -F "\"from\":\"$ROOM/am\"" "$DIR/carol.jsonl" | grep -cF '"type":"groupchat"')
check_eq "carol got firing and resolved as groupchat" 2 "$n"
n=$(grep -F "\"from\":\"$ROOM/am\"" "$DIR/carol.jsonl" | grep -cF '"replace":"')
check_eq "no correction in the room" 0 "$n"

# --- heartbeat ----------------------------------------------------------
# presence_xa HH:MM...: the newest presence of wd is xa since one of them.
presence_xa() {
    local t
    for t in "$@"; do
        presence_is wd '<show>xa</show>' "<status>no heartbeat since $t</status>" &&
            return 0
    done
    return 1
}
if [ "$WD_AT0" = "$WD_AT" ]; then
    check "heartbeat missing: wd presence xa 'no heartbeat since $WD_AT'" \
        presence_xa "$WD_AT"
else
    check "heartbeat missing: wd presence xa 'no heartbeat since $WD_AT0|$WD_AT'" \
        presence_xa "$WD_AT0" "$WD_AT"
fi
wait_has 10 "$J" "\"from\":\"wd@$DOMAIN\"" "No heartbeat" ||
    not_ok "alice gets the heartbeat message"
sleep 3 # more silence: no second message
n=$(grep -cF "\"from\":\"wd@$DOMAIN\"" "$J")
check_eq "one heartbeat message during the silence" 1 "$n"
# The hook's room too: the notice once, from the bot's occupant JID, and
# the xa presence as an update of that occupant.
n=$(grep -F "\"from\":\"$ROOM/wd\"" "$DIR/carol.jsonl" | grep -F "No heartbeat" |
    grep -cF '"type":"groupchat"')
check_eq "the room got the heartbeat message once (groupchat from $ROOM/wd)" 1 "$n"
check "status board in the room: $ROOM/wd is xa" \
    room_presence_is wd '<show>xa</show>' '<status>no heartbeat since '
check_eq "watchdog webhook again: 202" 202 "$(post "$T_WD" "$WATCHDOG")"
wait_has 10 "$J" "\"from\":\"wd@$DOMAIN\"" "Heartbeat back" ||
    not_ok "alice gets the back message"
check "heartbeat back: wd presence available again" \
    presence_is wd '<status>all clear</status>'
wait_has 10 "$DIR/carol.jsonl" "\"from\":\"$ROOM/wd\"" "Heartbeat back" ||
    not_ok "the room gets the back message"
check "status board in the room: $ROOM/wd back to 'all clear'" \
    room_presence_is wd '<status>all clear</status>'
check_eq "watchdog webhook in time: 202" 202 "$(post "$T_WD" "$WATCHDOG")"
sleep 1
n=$(grep -cF "\"from\":\"wd@$DOMAIN\"" "$J")
check_eq "two heartbeat messages in all; the webhooks are not forwarded" 2 "$n"

# --- a restart between firing and resolved (the spool keeps the series) ---
# The group fires again: a new incident, a new message from its resource.
check_eq "firing again: 202" 202 "$(post "$T_AM" "$(am_payload firing)")"
# new_firing_lines: the group's messages that are no correction.
new_firing_lines() {
    grep -nF "\"from\":\"$F_FROM\"" "$J" | grep -F '"replace":null'
}
for ((i = 0; i < 100; i++)); do
    [ "$(new_firing_lines | wc -l)" -ge 2 ] && break
    sleep 0.1
done
F2_LINE=$(new_firing_lines | sed -n 2p | cut -d: -f1)
[ -n "$F2_LINE" ] || bail "alice gets the second firing message as a new one"
F2_ID=$("$CLIENT" --get "$J" $((F2_LINE - 1)) id)
ok "firing after resolved is a new message ($F2_ID)"

# --- GET /metrics: the lifecycle's families ----------------------------
# The heartbeat goes missing again (2 s after the last webhook): then
# every value below is settled.
for ((i = 0; i < 100; i++)); do
    [ "$(grep -F "\"from\":\"wd@$DOMAIN\"" "$J" | grep -cF "No heartbeat")" -ge 2 ] &&
        break
    sleep 0.1
done
check_eq "the heartbeat went missing a second time (one more message)" 3 \
    "$(grep -cF "\"from\":\"wd@$DOMAIN\"" "$J")"
metric() { # metric SERIES: its value, empty if absent
    curl -s --max-time 5 "$BASE/metrics" | awk -v s="$1" '$1 == s { print $2 }'
}
curl -s --max-time 5 "$BASE/metrics" >"$DIR/metrics.txt"
for f in "xmta_alert_groups gauge" "xmta_alerts_firing gauge" \
    "xmta_alert_series gauge" "xmta_alert_corrections_total counter" \
    "xmta_alert_resolved_new_total counter" \
    "xmta_status_board_updates_total counter" \
    "xmta_heartbeats_received_total counter" \
    "xmta_heartbeats_missed_total counter" "xmta_heartbeat_ok gauge"; do
    check "metrics: # TYPE $f" grep -qxF "# TYPE $f" "$DIR/metrics.txt"
done
# am: one group firing (1 alert), one series (alice; the room is no
# series), one correction (the resolved), nothing resolved as new; the
# board: am dnd, all clear, dnd; wd xa, back, xa. wd: 3 webhooks, 2
# silences, missing now.
check_eq "metrics: xmta_alert_groups" 1 "$(metric xmta_alert_groups)"
check_eq "metrics: xmta_alerts_firing" 1 "$(metric xmta_alerts_firing)"
check_eq "metrics: xmta_alert_series" 1 "$(metric xmta_alert_series)"
check_eq "metrics: xmta_alert_corrections_total" 1 \
    "$(metric xmta_alert_corrections_total)"
check_eq "metrics: xmta_alert_resolved_new_total" 0 \
    "$(metric xmta_alert_resolved_new_total)"
check_eq "metrics: xmta_status_board_updates_total" 6 \
    "$(metric xmta_status_board_updates_total)"
check_eq "metrics: heartbeats received (wd)" 3 \
    "$(metric 'xmta_heartbeats_received_total{hook="wd"}')"
check_eq "metrics: heartbeats missed (wd)" 2 \
    "$(metric 'xmta_heartbeats_missed_total{hook="wd"}')"
check_eq "metrics: heartbeat of wd missing" 0 \
    "$(metric 'xmta_heartbeat_ok{hook="wd"}')"
check_eq "metrics: no heartbeat series for am" "" \
    "$(metric 'xmta_heartbeat_ok{hook="am"}')"

# --- restart while the heartbeat is missing (the spool keeps it) -------
S_BEFORE=$(count_lines "$S")
it_kill "$XMTA_PID"
XMTA_PID=""
start_xmta || bail "xmta is online again after a restart"
ok "xmta restarted on the same spool"
# wd_presence_after_restart first|last TEXT...: the first (or newest)
# available presence of wd to alice since the restart holds every TEXT
# (10 s at most).
wd_presence_after_restart() {
    local i p t all which=$1
    shift
    for ((i = 0; i < 100; i++)); do
        p=$(tail -n +"$((S_BEFORE + 1))" "$S" | grep -F "<presence" |
            grep -F "from=\"wd@$DOMAIN/xmta\"" | grep -vF 'type=')
        if [ "$which" = first ]; then
            p=$(head -n 1 <<<"$p")
        else
            p=$(tail -n 1 <<<"$p")
        fi
        all=1
        for t in "$@"; do
            case $p in *"$t"*) ;; *) all=0 ;; esac
        done
        [ "$all" -eq 1 ] && return 0
        sleep 0.1
    done
    echo "# $which presence of wd since the restart: $p"
    return 1
}
check "after the restart: wd is xa 'no heartbeat since ...' at once" \
    wd_presence_after_restart first '<show>xa</show>' '<status>no heartbeat since '
sleep 3 # more than the period: it was told before, no second message
check_eq "after the restart: no second 'No heartbeat' message" 3 \
    "$(grep -cF "\"from\":\"wd@$DOMAIN\"" "$J")"
check_eq "after the restart: metrics say wd missing" 0 \
    "$(metric 'xmta_heartbeat_ok{hook="wd"}')"
check_eq "watchdog webhook after the restart: 202" 202 "$(post "$T_WD" "$WATCHDOG")"
for ((i = 0; i < 100; i++)); do
    [ "$(grep -F "\"from\":\"wd@$DOMAIN\"" "$J" | grep -cF "Heartbeat back")" -ge 2 ] &&
        break
    sleep 0.1
done
check_eq "after the restart: the webhook brings the 'back' message" 2 \
    "$(grep -F "\"from\":\"wd@$DOMAIN\"" "$J" | grep -cF "Heartbeat back")"
check "after the restart: wd available again" \
    wd_presence_after_restart last '<status>all clear</status>'
check_eq "after the restart: metrics say wd ok, one webhook" "1 1" \
    "$(metric 'xmta_heartbeat_ok{hook="wd"}') $(metric 'xmta_heartbeats_received_total{hook="wd"}')"
check_eq "resolved after the restart: 202" 202 "$(post "$T_AM" "$(am_payload resolved)")"
if wait_has 10 "$J" "\"replace\":\"$F2_ID\""; then
    R2_LINE=$(grep -n "\"replace\":\"$F2_ID\"" "$J" | head -n 1 | cut -d: -f1)
    check_eq "after the restart: the correction comes from the same full JID" \
        "$F_FROM" "$("$CLIENT" --get "$J" $((R2_LINE - 1)) from)"
    ok "after the restart: resolved corrects the firing message sent before it"
else
    not_ok "after the restart: resolved corrects $F2_ID"
fi
it_summary
