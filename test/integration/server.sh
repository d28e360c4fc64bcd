#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2034,SC2153 # set for and by the sourcing script
# server.sh -- the XMPP server backends of the integration scripts that run
# on either server (run_server.sh, run_lifecycle.sh). Sourced with SERVER
# set to prosody or ejabberd (else it returns 1), after lib.sh; uses DIR
# when the functions run. Defines: srv_install, srv_setup BLOCKFILE,
# srv_start, srv_stop, srv_log (its log file), auth_lines (component
# logins so far), C2S_PORT, COMPONENT_PORT, SRV_NAME, and OFFLINE_LATE=1
# when offline messages may show only at a later login (ejabberd writes
# them in the background, SERVERS.md).
case $SERVER in
prosody)
    . "$HERE/prosody.sh"
    SRV_NAME=Prosody
    C2S_PORT=$PROSODY_C2S_PORT
    COMPONENT_PORT=$PROSODY_COMPONENT_PORT
    OFFLINE_LATE=0
    srv_install() { prosody_install_if_missing; }
    srv_setup() { prosody_setup "$DIR" "$1"; }
    srv_start() { prosody_start "$DIR"; }
    srv_stop() { prosody_stop "$DIR"; }
    srv_log() { echo "$DIR/prosody.log"; }
    auth_lines() {
        grep -c 'External component successfully authenticated' \
            "$DIR/prosody.log" 2>/dev/null || true
    }
    ;;
ejabberd)
    . "$HERE/ejabberd.sh"
    SRV_NAME=ejabberd
    C2S_PORT=$EJABBERD_C2S_PORT
    COMPONENT_PORT=$EJABBERD_COMPONENT_PORT
    OFFLINE_LATE=1
    # A missing ejabberd is a failure here, never a skip.
    srv_install() { ejabberd_install_if_missing || return 1; }
    srv_setup() { ejabberd_setup "$DIR" "$1"; }
    srv_start() { ejabberd_start "$DIR"; }
    srv_stop() { ejabberd_stop "$DIR"; }
    srv_log() { echo "$DIR/log/ejabberd.log"; }
    auth_lines() {
        grep -c 'Accepted external component handshake authentication' \
            "$DIR/log/ejabberd.log" 2>/dev/null || true
    }
    ;;
*)
    return 1
    ;;
esac
