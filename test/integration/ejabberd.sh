#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# ejabberd.sh -- a private ejabberd 23.01 on loopback ports for the
# integration tests (SERVERS.md, "ejabberd 23.01").
#
# Source it for the functions, or run it as a command:
#   ejabberd.sh setup DIR [BLOCK]  write DIR/ejabberd.yml (+ ejabberdctl.cfg);
#                                  BLOCK is a file holding the component's
#                                  listener item (the output of
#                                  `xmta setup ejabberd`); without it a
#                                  default one is written
#   ejabberd.sh start DIR          start (in the background), wait for c2s,
#                                  register the users on the first start
#   ejabberd.sh stop DIR           SIGTERM to the beam process, bounded wait
#   ejabberd.sh restart DIR        stop, then start on the same DIR
# Ports: EJABBERD_C2S_PORT (15222), EJABBERD_COMPONENT_PORT (15347),
# EJABBERD_DIST_PORT (15470). Users: alice, bob and carol, passwords
# "<name>-pw". As root, ejabberdctl runs ejabberd as the ejabberd user, so
# DIR is chowned to it and must sit below searchable directories. Nothing
# here touches a system ejabberd (own node name, cookie, spool, ports).

: "${EJABBERD_C2S_PORT:=15222}"
: "${EJABBERD_COMPONENT_PORT:=15347}"
: "${EJABBERD_DIST_PORT:=15470}"
: "${EJABBERD_COMPONENT_SECRET:=s3cret}"
: "${EJABBERD_COMPONENT_DOMAIN:=notify.localhost}"
EJABBERD_USERS=(alice bob carol)

ejabberd_log() {
    echo "ejabberd.sh: $*" >&2
}


# Installs ejabberd from Debian when ejabberdctl is missing, without letting
# the package start a system service (deps.sh's policy-rc.d guard).
ejabberd_install_if_missing() {
    command -v ejabberdctl >/dev/null && return 0
    if [ "$(id -u)" != 0 ]; then
        ejabberd_log "ejabberd is not installed and we are not root"
        return 1
    fi
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    # shellcheck source=deps.sh
    . "$here/deps.sh"
    xmta_apt_install ejabberd
}

# ejabberdctl with this instance's flags.
ejabberd_ctl() {
    local dir=$1
    shift
    ejabberdctl --config-dir "$dir" --ctl-config "$dir/ejabberdctl.cfg" \
        --config "$dir/ejabberd.yml" --spool "$dir/spool" --logs "$dir/log" \
        "$@"
}

# The default listener item, the same shape `xmta setup ejabberd` prints.
ejabberd_default_block() {
    cat <<EOF
  -
    port: $EJABBERD_COMPONENT_PORT
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      $EJABBERD_COMPONENT_DOMAIN:
        password: "$EJABBERD_COMPONENT_SECRET"
EOF
}

# Writes DIR/ejabberd.yml and DIR/ejabberdctl.cfg.
ejabberd_setup() {
    local dir=$1 block=${2:-} cookie
    mkdir -p "$dir/spool" "$dir/log" || return 1
    : >"$dir/inetrc"
    chmod 755 "$dir"
    cookie=xmta$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    cat >"$dir/ejabberdctl.cfg" <<EOF
ERLANG_NODE=xmta$EJABBERD_DIST_PORT@localhost
ERL_DIST_PORT=$EJABBERD_DIST_PORT
ERL_OPTIONS="-setcookie $cookie -kernel inet_dist_use_interface {127,0,0,1}"
EJABBERD_PID_PATH=$dir/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
EOF
    {
        cat <<EOF
# Private test instance written by test/integration/ejabberd.sh
loglevel: info
log_rotate_count: 0
hosts:
  - localhost
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  muc_create:
    allow: local
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 1000
listen:
  -
    port: $EJABBERD_C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    access: c2s
EOF
        if [ -n "$block" ]; then
            cat "$block"
        else
            ejabberd_default_block
        fi
        cat <<EOF
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_offline: {}
  mod_last: {}
  mod_muc:
    host: conference.localhost
    access_create: muc_create
    history_size: 20
    default_room_options:
      persistent: true
      mam: false
EOF
    } >"$dir/ejabberd.yml"
    chown -R ejabberd: "$dir" 2>/dev/null || true
}

# The beam process of the private ejabberd on DIR, if it runs.
ejabberd_pid() {
    local pid
    pid=$(cat "$1/ejabberd.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Starts ejabberd in the background on DIR and waits (bounded) for the c2s
# and component ports; registers the users the first time.
ejabberd_start() {
    local dir=$1 p u i
    for p in "$EJABBERD_C2S_PORT" "$EJABBERD_COMPONENT_PORT" \
        "$EJABBERD_DIST_PORT"; do
        if port_open "$p"; then
            ejabberd_log "port $p is already in use; not starting"
            return 1
        fi
    done
    chown -R ejabberd: "$dir" 2>/dev/null || true
    rm -f "$dir/ejabberd.pid"
    ejabberd_ctl "$dir" foreground >>"$dir/ejabberd.out" 2>&1 </dev/null &
    echo $! >"$dir/run.pid"
    if ! port_wait "$EJABBERD_C2S_PORT" 60 ||
        ! port_wait "$EJABBERD_COMPONENT_PORT" 10; then
        ejabberd_log "ejabberd did not open its ports within 70s"
        tail -n 30 "$dir/ejabberd.out" "$dir/log/ejabberd.log" >&2 2>/dev/null
        ejabberd_stop "$dir"
        return 1
    fi
    for ((i = 0; i < 100; i++)); do
        ejabberd_pid "$dir" >/dev/null && break
        sleep 0.1
    done
    [ -e "$dir/users.done" ] && return 0
    for u in "${EJABBERD_USERS[@]}"; do
        if ! ejabberd_ctl "$dir" register "$u" localhost "$u-pw" \
            >>"$dir/ejabberdctl.out" 2>&1; then
            ejabberd_log "registering $u failed:"
            cat "$dir/ejabberdctl.out" >&2
            return 1
        fi
    done
    touch "$dir/users.done"
}

# Stops the private ejabberd on DIR: "ejabberdctl stop", then SIGTERM to
# the beam process, up to 20 s, then SIGKILL.
ejabberd_stop() {
    local dir=$1 pid wrapper i
    pid=$(ejabberd_pid "$dir")
    wrapper=$(cat "$dir/run.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
        # "ejabberdctl stop" runs ejabberd's own stop (components get
        # system-shutdown, occupants 332); SIGTERM is the fallback.
        timeout 20 ejabberdctl --config-dir "$dir" \
            --ctl-config "$dir/ejabberdctl.cfg" --config "$dir/ejabberd.yml" \
            --spool "$dir/spool" --logs "$dir/log" stop \
            >>"$dir/ejabberdctl.out" 2>&1
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            ejabberd_log "ejabberd $pid ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    if [ -n "$wrapper" ] && kill -0 "$wrapper" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do
            kill -0 "$wrapper" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$wrapper" 2>/dev/null
    fi
    [ -n "$wrapper" ] && wait "$wrapper" 2>/dev/null
    rm -f "$dir/run.pid" "$dir/ejabberd.pid"
    for ((i = 0; i < 50; i++)); do
        port_open "$EJABBERD_C2S_PORT" || return 0
        sleep 0.1
    done
    return 0
}

ejabberd_restart() {
    ejabberd_stop "$1" && ejabberd_start "$1"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    cmd=${1:-}
    dir=${2:-}
    if [ -z "$cmd" ] || [ -z "$dir" ]; then
        echo "usage: $0 setup|start|stop|restart DIR [BLOCK]" >&2
        exit 2
    fi
    case $cmd in
    setup) ejabberd_install_if_missing && ejabberd_setup "$dir" "${3:-}" ;;
    start) ejabberd_start "$dir" ;;
    stop) ejabberd_stop "$dir" ;;
    restart) ejabberd_restart "$dir" ;;
    *)
        echo "usage: $0 setup|start|stop|restart DIR [BLOCK]" >&2
        exit 2
        ;;
    esac
fi
