#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# prosody.sh -- a private Prosody on loopback ports for the integration tests.
#
# Source it for the functions, or run it as a command:
#   prosody.sh setup DIR [BLOCK]
#                            write DIR/prosody.cfg.lua and register the users;
#                            BLOCK is a file with the Component block (the
#                            output of `xmta setup prosody`); without it a
#                            default one is written
#   prosody.sh start DIR     start (in the background) and wait for c2s
#   prosody.sh stop DIR      SIGTERM, bounded wait, then SIGKILL
#   prosody.sh restart DIR   stop, then start on the same DIR
# Ports come from PROSODY_C2S_PORT (15222), PROSODY_COMPONENT_PORT (15347)
# and PROSODY_HTTP_PORT (15280); the component secret from
# PROSODY_COMPONENT_SECRET (s3cret). Users: alice, bob and carol, each with
# the password "<name>-pw". Nothing here touches a system Prosody.

: "${PROSODY_C2S_PORT:=15222}"
: "${PROSODY_COMPONENT_PORT:=15347}"
: "${PROSODY_HTTP_PORT:=15280}"
: "${PROSODY_COMPONENT_SECRET:=s3cret}"
: "${PROSODY_COMPONENT_DOMAIN:=notify.localhost}"
PROSODY_USERS=(alice bob carol)

prosody_log() {
    echo "prosody.sh: $*" >&2
}


# Installs Prosody from Debian when the prosody command is missing, without
# letting the package start a system service.
prosody_install_if_missing() {
    command -v prosody >/dev/null && command -v prosodyctl >/dev/null &&
        return 0
    if [ "$(id -u)" != 0 ]; then
        prosody_log "prosody is not installed and we are not root"
        return 77
    fi
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    # shellcheck source=deps.sh
    . "$here/deps.sh"
    xmta_apt_install prosody
}

# Writes DIR/prosody.cfg.lua (with the Component block from the file BLOCK
# when given) and registers the users.
prosody_setup() {
    local dir=$1 block=${2:-} u
    mkdir -p "$dir/data" "$dir/certs" || return 1
    chmod 755 "$dir"
    cat >"$dir/prosody.cfg.lua" <<EOF
-- Private test instance written by test/integration/prosody.sh
run_as_root = true
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$dir/certs"
log = {
    { levels = { min = "info" }, to = "file", filename = "$dir/prosody.log" };
}
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $PROSODY_C2S_PORT }
c2s_interfaces = { "127.0.0.1" }
component_ports = { $PROSODY_COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
http_ports = { $PROSODY_HTTP_PORT }
http_interfaces = { "127.0.0.1" }
https_ports = { }
http_default_host = "localhost"
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix" }
modules_disabled = { "s2s" }
authentication = "internal_hashed"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

VirtualHost "localhost"

Component "conference.localhost" "muc"
    -- MUC archiving, as most deployments run it: room messages carry the
    -- room's XEP-0359 stanza-id, which XEP-0461 replies name.
    modules_enabled = { "muc_mam" }
    restrict_room_creation = false
    muc_room_locking = false
    -- Rooms survive a Prosody restart, so the test user stays their owner
    -- and xmta never creates one by rejoining an empty room.
    muc_room_default_persistent = true

EOF
    if [ -n "$block" ]; then
        cat "$block" >>"$dir/prosody.cfg.lua" || return 1
    else
        cat >>"$dir/prosody.cfg.lua" <<EOF
Component "$PROSODY_COMPONENT_DOMAIN"
    component_secret = "$PROSODY_COMPONENT_SECRET"
    component_conflict_resolve = "kick_old"
EOF
    fi
    for u in "${PROSODY_USERS[@]}"; do
        if ! prosodyctl --config "$dir/prosody.cfg.lua" register "$u" \
            localhost "$u-pw" >>"$dir/prosodyctl.out" 2>&1; then
            prosody_log "registering $u failed:"
            cat "$dir/prosodyctl.out" >&2
            return 1
        fi
    done
}

# Starts Prosody in the background on DIR and waits (bounded) for c2s.
prosody_start() {
    local dir=$1 p
    for p in "$PROSODY_C2S_PORT" "$PROSODY_COMPONENT_PORT" \
        "$PROSODY_HTTP_PORT"; do
        if port_open "$p"; then
            prosody_log "port $p is already in use; not starting"
            return 1
        fi
    done
    prosody --config "$dir/prosody.cfg.lua" -F \
        >>"$dir/prosody.out" 2>&1 </dev/null &
    echo $! >"$dir/run.pid"
    if ! port_wait "$PROSODY_C2S_PORT" 30 ||
        ! port_wait "$PROSODY_COMPONENT_PORT" 10; then
        prosody_log "Prosody did not open its ports within 40s"
        tail -n 30 "$dir/prosody.out" "$dir/prosody.log" >&2 2>/dev/null
        prosody_stop "$dir"
        return 1
    fi
}

# The PID of the running private Prosody on DIR, if any.
prosody_pid() {
    local pid
    pid=$(cat "$1/run.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Stops the private Prosody on DIR: SIGTERM, up to 15 s, then SIGKILL.
prosody_stop() {
    local dir=$1 pid i
    pid=$(prosody_pid "$dir") || {
        rm -f "$dir/run.pid"
        return 0
    }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        prosody_log "Prosody $pid ignored SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rm -f "$dir/run.pid"
    # The ports must be free before a restart can bind them again.
    for ((i = 0; i < 50; i++)); do
        port_open "$PROSODY_C2S_PORT" || return 0
        sleep 0.1
    done
    return 0
}

prosody_restart() {
    prosody_stop "$1" && prosody_start "$1"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    cmd=${1:-}
    dir=${2:-}
    if [ -z "$cmd" ] || [ -z "$dir" ]; then
        echo "usage: $0 setup|start|stop|restart DIR" >&2
        exit 2
    fi
    case $cmd in
    setup) prosody_install_if_missing && prosody_setup "$dir" "${3:-}" ;;
    start) prosody_start "$dir" ;;
    stop) prosody_stop "$dir" ;;
    restart) prosody_restart "$dir" ;;
    *)
        echo "usage: $0 setup|start|stop|restart DIR" >&2
        exit 2
        ;;
    esac
fi
