#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# citizen.sh -- the "good XMPP citizen" cases of run_server.sh, on both
# servers: disco, ping, version and vCard answered to a real client; a
# subscription seen with the bot's presence, kept across an xmta restart;
# the help reply; a kicked bot rejoins; a members-only room is reported
# and joined once the owner grants membership; a bounce is logged and
# counted. Sourced by run_server.sh (uses its helpers and variables: DIR,
# BASE, XMTA, ROOM, PRIV, BOTNICK, DOMAIN, CAROL_CTL, client_bg, http,
# health, wait_until, check, check_eq, ok, not_ok).

# A 1x1 PNG for the alerts bot's avatar.
citizen_avatar() {
    echo 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==' |
        base64 -d >"$1"
}

# carol_send XML: carol (owner of both rooms, still online) sends XML.
carol_send() {
    printf '%s\n' "$1" >>"$CAROL_CTL"
}

# stanza_has FILE ID TEXT...: a line of FILE with id="ID" holds every TEXT.
stanza_has() {
    local file=$1 id=$2 line t
    shift 2
    while IFS= read -r line; do
        case $line in *"id=\"$id\""*) ;; *) continue ;; esac
        for t in "$@"; do
            case $line in *"$t"*) ;; *) continue 2 ;; esac
        done
        return 0
    done <"$file"
    return 1
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

# room_state ROOM: the room's state in /health's rooms list.
room_state() {
    health | grep -oE "\"room\" *: *\"$1\" *, *\"bot\" *: *\"[^\"]*\" *, *\"state\" *: *\"[a-z]*\"" |
        head -n 1 | sed -E 's/.*"([a-z]*)"$/\1/'
}

room_is() { # room_is ROOM STATE
    [ "$(room_state "$1")" == "$2" ]
}

# The error /health shows for ROOM.
room_error() {
    health | grep -oE "\"room\" *: *\"$1\"[^}]*\"error\" *: *\"[^\"]*\"" |
        head -n 1 | sed -E 's/.*"error" *: *"([^"]*)"$/\1/'
}

# Before xmta starts: carol makes PRIV members-only (and persistent).
citizen_private_room() {
    carol_send "<iq type='set' id='cfg1' to='$PRIV'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_membersonly'><value>1</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>"
    if wait_until 15 stanza_has "$DIR/carol.stanzas" cfg1 'type="result"'; then
        ok "carol makes $PRIV members-only"
    else
        not_ok "carol makes $PRIV members-only ($(grep cfg1 "$DIR/carol.stanzas"))"
    fi
}

# With xmta online and the rooms section done.
citizen_live() {
    local S=$DIR/bots.stanzas J=$DIR/bots.jsonl sha code n

    # --- disco, ping, version, vCard, subscription, help reply (alice)
    TAG=bots client_bg alice --duration 6 --timeout 30 --stanzas "$S" \
        --raw "<iq type='get' id='di1' to='$DOMAIN'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>" \
        --raw "<iq type='get' id='dit1' to='$DOMAIN'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>" \
        --raw "<iq type='get' id='db1' to='alerts@$DOMAIN'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>" \
        --raw "<iq type='get' id='ping1' to='alerts@$DOMAIN'><ping xmlns='urn:xmpp:ping'/></iq>" \
        --raw "<iq type='get' id='ping2' to='$DOMAIN'><ping xmlns='urn:xmpp:ping'/></iq>" \
        --raw "<iq type='get' id='ver1' to='alerts@$DOMAIN/xmta'><query xmlns='jabber:iq:version'/></iq>" \
        --raw "<iq type='get' id='vc1' to='alerts@$DOMAIN'><vCard xmlns='vcard-temp'/></iq>" \
        --raw "<iq type='get' id='tm1' to='alerts@$DOMAIN'><time xmlns='urn:xmpp:time'/></iq>" \
        --raw "<iq type='get' id='un1' to='alerts@$DOMAIN'><query xmlns='jabber:iq:private'/></iq>" \
        --raw "<iq type='get' id='nx1' to='nobody@$DOMAIN'><ping xmlns='urn:xmpp:ping'/></iq>" \
        --raw "<presence type='subscribe' to='alerts@$DOMAIN'/>" \
        --raw "<message type='chat' id='cs1' to='alerts@$DOMAIN'><active xmlns='http://jabber.org/protocol/chatstates'/></message>" \
        --raw "<message type='chat' id='hi1' to='alerts@$DOMAIN'><body>hello bot</body></message>"
    wait_pid "$CLIENT_PID" 40
    check_eq "alice's bot session ends cleanly" 0 $?
    check "disco#info on $DOMAIN: component/generic" stanza_has "$S" di1 \
        'type="result"' 'category="component"' 'type="generic"'
    check "disco#items on $DOMAIN lists the bots" stanza_has "$S" dit1 \
        'type="result"' "jid=\"alerts@$DOMAIN\"" "jid=\"ops@$DOMAIN\""
    check "disco#info on alerts@: client/bot with vcard-temp" stanza_has \
        "$S" db1 'type="result"' 'category="client"' 'type="bot"' \
        'var="vcard-temp"' 'var="urn:xmpp:ping"'
    check "ping to alerts@ answered" stanza_has "$S" ping1 'type="result"'
    check "ping to $DOMAIN answered" stanza_has "$S" ping2 'type="result"'
    check "version: xmta" stanza_has "$S" ver1 'type="result"' \
        '<name>xmta</name>' '<version>'
    sha=$(sha1sum "$DIR/alerts.png" | cut -d' ' -f1)
    check "vCard: FN, NICKNAME, PHOTO" stanza_has "$S" vc1 'type="result"' \
        '<FN>Alerts</FN>' '<NICKNAME>Alerts</NICKNAME>' '<TYPE>image/png</TYPE>' \
        '<BINVAL>iVBORw0KGgo'
    check "time: UTC" stanza_has "$S" tm1 'type="result"' '<tzo>+00:00</tzo>'
    check "unknown iq: service-unavailable" stanza_has "$S" un1 \
        'type="error"' 'service-unavailable'
    check "iq to an unknown bot: an error" stanza_has "$S" nx1 'type="error"'
    check "subscribe: the bot's available presence with nick and avatar hash" \
        line_has "$S" '<presence' "from=\"alerts@$DOMAIN/xmta\"" \
        "<nick xmlns=\"http://jabber.org/protocol/nick\">Alerts</nick>" \
        "<photo>$sha</photo>"
    check "subscribe: the bot asks back (subscribe)" line_has "$S" \
        '<presence' "from=\"alerts@$DOMAIN\"" 'type="subscribe"'
    check "the subscription is stored in the spool directory" \
        grep -qxF "alerts	alice@localhost" "$DIR/spool/subscribers"
    n=$(count_lines "$J")
    check_eq "one reply (help) to a chat message; none to a chat state" 1 "$n"
    check "the help reply names the hook" line_has "$J" \
        "\"from\":\"alerts@$DOMAIN\"" 'webhook \"alerts\"'

    # --- a bounce: a message to a user that does not exist
    code=$(http bounce POST "/hook/$TOKEN_ALERTS?to=nobody%40localhost" \
        -H 'Content-Type: text/plain' --data-binary 'to nobody')
    check_eq "message to nobody@localhost: 202" 202 "$code"
    if wait_until 15 line_has "$DIR/xmta.log" nobody@localhost \
        service-unavailable; then
        ok "the bounce from nobody@localhost is logged"
    else
        not_ok "the bounce from nobody@localhost is logged"
    fi
    if wait_until 10 sh -c "curl -s --max-time 5 '$BASE/health' |
        grep -qE '\"bounced\" *: *[1-9]'"; then
        ok "/health counts the bounce"
    else
        not_ok "/health counts the bounce ($(health))"
    fi
    if health | grep -qE '"bounced_by" *: *\{[^}]*"service-unavailable" *: *[1-9]'; then
        ok "/health counts the bounce per condition (service-unavailable)"
    else
        not_ok "/health counts the bounce per condition ($(health))"
    fi
    check "the bounce's log line names hook, recipient and condition" \
        line_has "$DIR/xmta.log" "bounced id=$(answer_id bounce) hook=alerts" \
        "to=nobody@localhost condition=service-unavailable"

    # --- kicked: the bot rejoins and the next message arrives
    carol_send "<iq type='set' id='kick1' to='$ROOM'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='$BOTNICK' role='none'><reason>test kick</reason></item></query></iq>"
    if wait_until 15 line_has "$DIR/xmta.log" "removed from room $ROOM" \
        "kicked (307)"; then
        ok "xmta sees the kick (307)"
    else
        not_ok "xmta sees the kick (307)"
    fi
    if wait_until 30 room_is "$ROOM" joined; then
        ok "the kicked bot is in $ROOM again"
    else
        not_ok "the kicked bot is in $ROOM again ($(health))"
    fi
    n=$(count_lines "$DIR/carol.jsonl")
    code=$(http afterkick POST "/hook/$TOKEN_OPS" -H 'Content-Type: text/plain' \
        --data-binary 'after the kick')
    check_eq "room post after the kick: 202" 202 "$code"
    if wait_lines "$DIR/carol.jsonl" $((n + 1)) 30 &&
        line_has "$DIR/carol.jsonl" '"body":"after the kick"' \
            "\"from\":\"$ROOM/$BOTNICK\""; then
        ok "the message after the kick reaches the room"
    else
        not_ok "the message after the kick reaches the room"
    fi

    # --- members-only room without membership
    if wait_until 20 sh -c "curl -s --max-time 5 '$BASE/health' |
        grep -q 'registration-required'"; then
        ok "/health reports $PRIV: registration-required"
    else
        not_ok "/health reports $PRIV: registration-required ($(health))"
    fi
    check "/health shows $PRIV not joined" test "$(room_state "$PRIV")" != joined
    check "the log tells the admin to add ops@$DOMAIN as a member" \
        line_has "$DIR/xmta.log" "room $PRIV is members-only" \
        "add ops@$DOMAIN as a member"
    code=$(http priv POST "/hook/$TOKEN_PRIV" -H 'Content-Type: text/plain' \
        --data-binary 'members only')
    check_eq "post to the members-only room: 202" 202 "$code"
    sleep 2
    if line_has "$DIR/carol.jsonl" '"body":"members only"'; then
        not_ok "the message waits while the bot is not a member"
    else
        ok "the message waits while the bot is not a member"
    fi
    carol_send "<iq type='set' id='mem1' to='$PRIV'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='ops@$DOMAIN'/></query></iq>"
    wait_until 15 stanza_has "$DIR/carol.stanzas" mem1 'type="result"' ||
        not_ok "carol grants ops@$DOMAIN membership ($(grep mem1 "$DIR/carol.stanzas"))"
    if wait_until 90 room_is "$PRIV" joined; then
        ok "after the grant the bot joins $PRIV"
    else
        not_ok "after the grant the bot joins $PRIV ($(health))"
    fi
    if wait_until 30 line_has "$DIR/carol.jsonl" '"body":"members only"' \
        "\"from\":\"$PRIV/$BOTNICK\""; then
        ok "the waiting message arrives in $PRIV"
    else
        not_ok "the waiting message arrives in $PRIV"
    fi
}

# unavail_from FILE FROM: unavailable presences from FROM in FILE.
unavail_from() {
    grep "from=\"$2\"" "$1" 2>/dev/null | grep -c 'type="unavailable"'
}

# SIGHUP with $PRIV's hook removed: the bot leaves $PRIV (carol sees its
# unavailable presence) and /health drops it; put back: joined again. The
# stream stays up throughout.
citizen_reload_rooms() {
    local before auth n
    auth=$(auth_lines)
    before=$(unavail_from "$DIR/carol.stanzas" "$PRIV/$BOTNICK")
    n=$(grep -c 'reloaded: ' "$DIR/xmta.log")
    cp "$DIR/xmta.ini" "$DIR/xmta.ini.full"
    sed -i '/^\[hook private\]/,$d' "$DIR/xmta.ini"
    kill -HUP "$XMTA_PID"
    wait_until 10 sh -c "[ \$(grep -c 'reloaded: ' '$DIR/xmta.log') -gt $n ]" ||
        not_ok "SIGHUP: the config without $PRIV is loaded"
    if wait_until 15 sh -c "[ \$(grep \"from=.$PRIV/$BOTNICK.\" '$DIR/carol.stanzas' |
        grep -c 'type=.unavailable') -gt $before ]"; then
        ok "SIGHUP: a room removed from the config is left (carol sees it)"
    else
        not_ok "SIGHUP: a room removed from the config is left (carol sees it)"
    fi
    if health | grep -q "\"room\":\"$PRIV\""; then
        not_ok "SIGHUP: the removed room leaves /health ($(health))"
    else
        ok "SIGHUP: the removed room leaves /health"
    fi
    check "SIGHUP: the other room stays joined" room_is "$ROOM" joined
    cp "$DIR/xmta.ini.full" "$DIR/xmta.ini"
    n=$(grep -c 'reloaded: ' "$DIR/xmta.log")
    kill -HUP "$XMTA_PID"
    wait_until 10 sh -c "[ \$(grep -c 'reloaded: ' '$DIR/xmta.log') -gt $n ]" ||
        not_ok "SIGHUP: the full config is loaded again"
    if wait_until 30 room_is "$PRIV" joined; then
        ok "SIGHUP: a room added to the config is joined"
    else
        not_ok "SIGHUP: a room added to the config is joined ($(health))"
    fi
    check_eq "SIGHUP: the stream stayed up (no new component login)" \
        "$auth" "$(auth_lines)"
}

# Available presences from the alerts bot in FILE.
avail_count() {
    grep "from=\"alerts@$DOMAIN/xmta\"" "$1" 2>/dev/null |
        grep -vc 'type="unavailable"'
}

avail_more() { # avail_more FILE N
    [ "$(avail_count "$1")" -gt "$2" ]
}

# xmta restarts: subscribers get unavailable on shutdown and available
# presence after the next handshake (the store survives the restart).
# Leaves the new xmta running as XMTA_PID.
citizen_xmta_restart() {
    local S=$DIR/pres.stanzas rc before
    TAG=pres client_bg alice --duration 120 --timeout 150 --stanzas "$S"
    PRES=$CLIENT_PID
    wait_for_line "$DIR/pres.stdout" ready 20 "$PRES" ||
        not_ok "alice is online for the presence checks"
    sleep 1
    kill -TERM "$XMTA_PID"
    wait_pid "$XMTA_PID" 20
    rc=$?
    check_eq "xmta exits 0 on SIGTERM (first stop)" 0 "$rc"
    if wait_until 10 line_has "$S" "from=\"alerts@$DOMAIN/xmta\"" \
        'type="unavailable"'; then
        ok "subscriber alice sees the bot go unavailable on shutdown"
    else
        not_ok "subscriber alice sees the bot go unavailable on shutdown"
    fi
    before=$(avail_count "$S")
    "$XMTA" -v -c "$DIR/xmta.ini" >>"$DIR/xmta.stdout" 2>>"$DIR/xmta.log" </dev/null &
    XMTA_PID=$!
    wait_until 30 health_online || not_ok "xmta is online again after its restart"
    if wait_until 15 avail_more "$S" "$before"; then
        ok "after the restart alice gets the bot's available presence"
    else
        not_ok "after the restart alice gets the bot's available presence"
    fi
    it_kill "$PRES"
}
