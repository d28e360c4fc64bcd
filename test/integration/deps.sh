#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh -- installs the Debian packages xmta's build, tests and demo need.
# Sourced by test/run and test/demo. Checks each package with dpkg -s and
# runs apt-get (update once, then install) only for what is missing, with a
# policy-rc.d guard so that no package starts a system service (Prosody,
# ejabberd); a system instance started anyway is stopped and disabled.

XMTA_DEPS=(build-essential cmake pkg-config clang libclang-rt-14-dev
    libexpat1-dev libevent-dev libssl-dev libcurl4-openssl-dev libjansson-dev
    libinih-dev libidn-dev libsqlite3-dev libcmocka-dev libstrophe-dev prosody
    ejabberd curl systemd openssl wrk valgrind)

xmta_pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
        grep -q '^install ok installed$'
}

# A system Prosody that a package script started anyway: stop it by its
# pidfile (never by name) and keep it from starting at boot.
xmta_stop_system_prosody() {
    local pid
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now prosody >/dev/null 2>&1 || true
    fi
    if [ -r /run/prosody/prosody.pid ]; then
        pid=$(cat /run/prosody/prosody.pid 2>/dev/null)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            echo "deps: stopping the system Prosody (pid $pid)" >&2
            kill -TERM "$pid" 2>/dev/null || true
        fi
    fi
    if command -v update-rc.d >/dev/null && [ -e /etc/init.d/prosody ]; then
        update-rc.d prosody disable >/dev/null 2>&1 || true
    fi
}

# The same for a system ejabberd: its package enables ejabberd.service and
# the init script. The tests run private instances with their own node
# name, cookie and ports, but a system one would hold 5222/5269/5280.
xmta_stop_system_ejabberd() {
    local pid
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now ejabberd >/dev/null 2>&1 || true
    fi
    if [ -r /run/ejabberd/ejabberd.pid ]; then
        pid=$(cat /run/ejabberd/ejabberd.pid 2>/dev/null)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            echo "deps: stopping the system ejabberd (pid $pid)" >&2
            kill -TERM "$pid" 2>/dev/null || true
        fi
    fi
    if command -v update-rc.d >/dev/null && [ -e /etc/init.d/ejabberd ]; then
        update-rc.d ejabberd disable >/dev/null 2>&1 || true
    fi
}

# Installs the named packages that are missing. Returns apt-get's status.
xmta_apt_install() {
    local missing=() p rc=0 guard=""
    for p in "$@"; do
        xmta_pkg_installed "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages: ${missing[*]} (run as root to install)" >&2
        return 1
    fi
    echo "deps: installing ${missing[*]}" >&2
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\n# xmta deps.sh: no services during install\nexit 101\n' \
            >"$guard"
        chmod 755 "$guard"
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${XMTA_APT_UPDATED:-}" ]; then
        apt-get update -q </dev/null || rc=$?
        XMTA_APT_UPDATED=1
    fi
    if [ "$rc" -eq 0 ]; then
        apt-get install -y -q "${missing[@]}" </dev/null || rc=$?
    fi
    [ -n "$guard" ] && rm -f "$guard"
    case " ${missing[*]} " in
    *" prosody "*) xmta_stop_system_prosody ;;
    esac
    case " ${missing[*]} " in
    *" ejabberd "*) xmta_stop_system_ejabberd ;;
    esac
    return "$rc"
}

# Everything test/run and test/demo need.
xmta_deps_install() {
    xmta_apt_install "${XMTA_DEPS[@]}"
}
