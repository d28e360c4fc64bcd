#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fetch_dlopen.sh -- libcurl is loaded only by configurations that make
# outgoing HTTP requests (component/curl_dl.c), and one that needs it but
# cannot load it is refused clearly:
#  - a plain config: /proc/PID/maps of the running xmta has no libcurl
#    (nor GnuTLS or libsystemd); one with reply_url maps it from the start,
#    and a reload from plain to reply_url loads it;
#  - with LD_LIBRARY_PATH on a stub SONAME that lacks curl's functions (a
#    CMake target) or on a file that is no library: `xmta check` of a
#    config with reply_url, alertmanager_url, attach_hosts or long_body =
#    upload fails with FILE:LINE, the key, the library and dlerror(); a
#    plain config still passes and runs; xmta fails to start with such a
#    config; a SIGHUP to it is rejected and the running config kept.
# No XMPP server: the component port refuses.
# usage: fetch_dlopen.sh XMTA STUB-DIR SONAME
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../integration/lib.sh
. "$HERE/../integration/lib.sh"
XMTA_BIN=$1 STUB=$2 SONAME=$3
XMTA=$(it_xmta "$XMTA_BIN") || exit 1
[ -f "$STUB/$SONAME" ] || { echo "no stub $STUB/$SONAME"; exit 1; }
T=$(mktemp -d /tmp/xmta-dlopen.XXXXXX)
trap 'it_kill_all; rm -rf "$T"' EXIT
GARBAGE=$T/garbage
mkdir "$GARBAGE" && echo 'not a library' >"$GARBAGE/$SONAME"
TOKEN1=plainTOKENplainTOKEN0123456789abcdef
TOKEN2=curlTOKENcurlTOKENcurl0123456789abcd

# conf FILE [KEY-LINES...]: hook one (plain); with KEY-LINES also hook
# two holding them, whose header is on line 13.
conf() {
    local f=$1
    shift
    {
        printf '[component]\ndomain = dl.localhost\nserver = 127.0.0.1\n'
        printf 'port = 15431\nsecret = dlopen-secret\n[http]\n'
        printf 'listen = 127.0.0.1:0\n[spool]\npath = none\n'
        printf '[hook one]\ntoken = %s\nto = juliet@localhost\n' "$TOKEN1"
        if [ $# -gt 0 ]; then
            printf '[hook two]\ntoken = %s\nto = romeo@localhost\n' "$TOKEN2"
            printf '%s\n' "$@"
        fi
    } >"$f"
    chmod 600 "$f"
}

conf "$T/plain.conf"
conf "$T/reply_url.conf" 'secret = hmac-key' 'reply_url = http://127.0.0.1:9/r'
conf "$T/alertmanager_url.conf" 'alertmanager_url = http://127.0.0.1:9093'
conf "$T/attach_hosts.conf" 'attach_hosts = grafana.example.org'
conf "$T/long_body.conf" 'long_body = upload'

# start CONF LOG [LIBDIR]: xmta in the background; sets PID and PORT.
start() {
    if [ -n "${3:-}" ]; then
        LD_LIBRARY_PATH=$3 "$XMTA" -c "$1" 2>"$2" &
    else
        "$XMTA" -c "$1" 2>"$2" &
    fi
    PID=$!
    it_track "$PID"
    PORT=""
    for ((i = 0; i < 300; i++)); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
            "$2" 2>/dev/null | head -n 1)
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# wait_grep FILE TEXT SECONDS: until a line of FILE contains TEXT.
wait_grep() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# mapped PID: the libraries of interest in its address space.
mapped() {
    grep -oE '/[^ ]*/lib(curl|gnutls|systemd)[^/ ]*\.so[^/ ]*' \
        "/proc/$1/maps" | sort -u
}

# post TOKEN: the HTTP status of a text webhook to it.
post() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: text/plain' --data 'disk full' \
        "http://127.0.0.1:$PORT/hook/$1"
}

# --- the real library: loaded only when needed ---------------------------

check "plain config starts" start "$T/plain.conf" "$T/plain.log"
libs=$(mapped "$PID")
check_eq "plain config: no libcurl, GnuTLS or libsystemd mapped" "" "$libs"
cp "$T/reply_url.conf" "$T/live.conf"
check "reply_url config starts" start "$T/live.conf" "$T/live.log"
check "reply_url config: libcurl mapped from the start" \
    grep -q "/$SONAME" "/proc/$PID/maps"
it_kill "$PID"

cp "$T/plain.conf" "$T/live.conf"
check "plain config starts again" start "$T/live.conf" "$T/reload.log"
check_eq "plain config again: no libcurl" "" "$(mapped "$PID")"
cp "$T/reply_url.conf" "$T/live.conf"
kill -HUP "$PID"
check "reload to reply_url accepted" \
    wait_grep "$T/reload.log" ' info main reloaded: ' 30
check "reload to reply_url: libcurl mapped" \
    grep -q "/$SONAME" "/proc/$PID/maps"
it_kill "$PID"

# --- a libcurl that cannot be used -----------------------------------------

for lib in "$STUB" "$GARBAGE"; do
    case $lib in
    "$STUB") why="undefined symbol: curl_" what=stub ;;
    *) why="$GARBAGE/$SONAME: " what="not a library" ;;
    esac
    for key in reply_url alertmanager_url attach_hosts long_body; do
        f=$T/$key.conf
        out=$(LD_LIBRARY_PATH=$lib "$XMTA" check -c "$f" 2>&1)
        rc=$?
        k=$key
        [ "$key" = long_body ] && k="long_body = upload"
        check_eq "$what: check $key exits 1" 1 "$rc"
        check "$what: check $key says FILE:LINE, key, library, dlerror" \
            grep -qF "$f:13: [hook two] $k makes outgoing HTTP requests, which need libcurl: cannot load libcurl (" <<<"$out"
        check "$what: check $key names $SONAME: $why" \
            grep -qF "$SONAME" <<<"$out"
        check "$what: check $key has dlerror" grep -qF "$why" <<<"$out"
        check "$what: real library: check $key ok" \
            "$XMTA" check -c "$f" >/dev/null
    done
    check "$what: check plain ok" env LD_LIBRARY_PATH="$lib" \
        "$XMTA" check -c "$T/plain.conf" >/dev/null
done
echo "# e.g.: $(LD_LIBRARY_PATH=$STUB "$XMTA" check -c "$T/reply_url.conf" 2>&1)"

# Start-up with a config that needs it: fails at once, says why.
LD_LIBRARY_PATH=$STUB "$XMTA" -c "$T/reply_url.conf" 2>"$T/fail.log" &
pid=$!
it_track "$pid"
wait_pid "$pid" 60
check_eq "stub: xmta -c reply_url.conf exits 2" 2 "$?"
check "stub: start-up error names key and library" \
    grep -qF "$T/reply_url.conf:13: [hook two] reply_url makes outgoing HTTP requests, which need libcurl: cannot load libcurl (" "$T/fail.log"
check "stub: nothing listened" \
    bash -c "! grep -q 'listening on' '$T/fail.log'"

# A plain config runs; a reload to one that needs libcurl is rejected.
cp "$T/plain.conf" "$T/live.conf"
check "stub: plain config starts" start "$T/live.conf" "$T/stub.log" "$STUB"
check_eq "stub: plain config: webhook accepted" 202 "$(post "$TOKEN1")"
cp "$T/reply_url.conf" "$T/live.conf"
kill -HUP "$PID"
check "stub: reload rejected" wait_grep "$T/stub.log" \
    ' error main reload rejected: keeping the running configuration' 30
check "stub: reload error names key and library" \
    grep -qF "$T/live.conf:13: [hook two] reply_url makes outgoing HTTP requests, which need libcurl: cannot load libcurl (" "$T/stub.log"
check "stub: still running" kill -0 "$PID"
check_eq "stub: old hook still accepted" 202 "$(post "$TOKEN1")"
check "stub: new hook not taken" \
    test "$(post "$TOKEN2")" != 202
check "stub: no libcurl mapped after the rejected reload" \
    bash -c "! grep -q '/$SONAME' /proc/$PID/maps"
kill -TERM "$PID"
wait_pid "$PID" 60
check_eq "stub: exits 0 on SIGTERM" 0 "$?"

it_summary
