#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# tls_ejabberd.sh -- [component] tls = true against a private ejabberd whose
# ejabberd_service listener has tls: true and a certificate made here by
# openssl (a test CA, the name xmpp.test):
#   good CA and name -> authenticated, a webhook reaches alice;
#   another CA       -> refused with "the certificate ... was refused", no
#                       stream opened (ejabberd logs no new login);
#   a wrong name     -> refused the same way;
# and no log of any run (xmta -v) holds the secret, the token or a 40-hex
# run (a handshake digest).
# usage: tls_ejabberd.sh --xmta PATH --client PATH
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

it_args "$@"
SECRET=tls-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export EJABBERD_COMPONENT_SECRET=$SECRET
. "$HERE/ejabberd.sh"
HTTP_PORT=15432
BASE=http://127.0.0.1:$HTTP_PORT

ejabberd_install_if_missing || { echo "not ok - ejabberd is installed"; exit 1; }
command -v openssl >/dev/null || { echo "not ok - openssl is installed"; exit 1; }
it_lock 600 || { echo "not ok - another integration run holds the lock"; exit 1; }
DIR=$(mktemp -d /tmp/xmta-tls.XXXXXX)
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "not ok - mktemp"; exit 1; }
chmod 755 "$DIR"
XMTA_PID=""

cleanup() {
    it_kill_all
    [ -n "$XMTA_PID" ] && it_kill "$XMTA_PID"
    ejabberd_stop "$DIR"
    if [ "$IT_FAILED" -ne 0 ]; then
        for f in "$DIR"/xmta-*.log; do
            echo "# --- $f"
            tail -n 30 "$f" | sed 's/^/#   /'
        done
        echo "# --- ejabberd.log"
        tail -n 40 "$DIR/log/ejabberd.log" 2>/dev/null | sed 's/^/#   /'
        tail -n 20 "$DIR/ejabberd.out" 2>/dev/null | sed 's/^/#   /'
        echo "# files kept in $DIR"
    else
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bail() {
    not_ok "$*"
    it_summary
    exit 1
}

# --- certificates: a CA, xmpp.test signed by it, and an unrelated CA --------
(
    cd "$DIR" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=xmta test CA" \
        -keyout ca.key -out ca.pem &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
            -subj "/CN=other test CA" -keyout ca2.key -out ca2.pem &&
        openssl req -newkey rsa:2048 -nodes -subj "/CN=xmpp.test" \
            -keyout server.key -out server.csr &&
        printf 'subjectAltName=DNS:xmpp.test\n' >san.ext &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
            -CAcreateserial -days 2 -extfile san.ext -out server.crt &&
        cat server.crt ca.pem server.key >server.pem
) >"$DIR/openssl.out" 2>&1 || bail "openssl makes the test certificates"
ok "openssl makes a test CA and a certificate for xmpp.test"

{
    echo "  -"
    echo "    port: $EJABBERD_COMPONENT_PORT"
    echo '    ip: "127.0.0.1"'
    echo "    module: ejabberd_service"
    echo "    tls: true"
    echo "    certfile: \"$DIR/server.pem\"" # else no certificate is served
    echo "    hosts:"
    echo "      $EJABBERD_COMPONENT_DOMAIN:"
    echo "        password: \"$SECRET\""
} >"$DIR/block"
ejabberd_setup "$DIR" "$DIR/block" || bail "ejabberd setup"
# ejabberd checks the chain of its own certificate: it must know the CA.
printf 'certfiles:\n  - "%s/server.pem"\nca_file: "%s/ca.pem"\n' "$DIR" "$DIR" \
    >>"$DIR/ejabberd.yml"
chown -R ejabberd: "$DIR" 2>/dev/null || true
ejabberd_start "$DIR" || bail "private ejabberd starts with a TLS component listener"
ok "private ejabberd with tls: true on 127.0.0.1:$EJABBERD_COMPONENT_PORT"

TOKEN=$("$XMTA" token | sed -n "s/^token = //p")
[[ $TOKEN =~ ^[A-Za-z0-9_-]{43}$ ]] || bail "xmta token prints a token"
auth_lines() {
    grep -c 'Accepted external component handshake authentication' \
        "$DIR/log/ejabberd.log" 2>/dev/null || true
}
online() {
    curl -s --max-time 5 "$BASE/health" 2>/dev/null |
        grep -qE '"component" *: *"online"'
}
wait_until() { # wait_until SECONDS COMMAND...
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# run_xmta NAME TLS-LINES: starts xmta -v with these [component] lines.
run_xmta() {
    local name=$1
    {
        echo "[component]"
        echo "domain = $EJABBERD_COMPONENT_DOMAIN"
        echo "server = 127.0.0.1"
        echo "port = $EJABBERD_COMPONENT_PORT"
        echo "secret = $SECRET"
        echo "tls = true"
        echo "$2"
        echo "[spool]"
        echo "path = none"
        echo "[http]"
        echo "listen = 127.0.0.1:$HTTP_PORT"
        echo "[hook alerts]"
        echo "token = $TOKEN"
        echo "to = alice@localhost"
    } >"$DIR/$name.ini"
    "$XMTA" -v -c "$DIR/$name.ini" >"$DIR/xmta-$name.stdout" \
        2>"$DIR/xmta-$name.log" </dev/null &
    XMTA_PID=$!
    it_track "$XMTA_PID"
}
stop_xmta() {
    it_kill "$XMTA_PID"
    XMTA_PID=""
}
auth_at_least() {
    [ "$(auth_lines)" -ge "$1" ]
}

# --- good CA, good name: delivered ------------------------------------------
run_xmta good "tls_ca = $DIR/ca.pem
tls_name = xmpp.test"
wait_until 20 online ||
    bail "good CA and name: the component is online over TLS"
ok "good CA and name: the component is online over TLS"
check "ejabberd accepted the handshake over TLS" wait_until 10 auth_at_least 1
# alice online first: the message goes to her session, not through
# ejabberd's offline storage (which made the wait depend on her login)
"$CLIENT" --host 127.0.0.1 --port "$EJABBERD_C2S_PORT" \
    --jid alice@localhost --password alice-pw --out "$DIR/alice.jsonl" \
    --expect 1 --timeout 40 >"$DIR/alice.stdout" 2>"$DIR/alice.stderr" &
ALICE=$!
it_track "$ALICE"
wait_for_line "$DIR/alice.stdout" ready 30 "$ALICE" ||
    not_ok "alice is online before the webhook"
code=$(curl -sS --max-time 10 -o "$DIR/post.body" -w '%{http_code}' \
    -d 'text=over TLS to alice' "$BASE/hook/$TOKEN" 2>>"$DIR/curl.err")
check_eq "webhook answered 202" 202 "$code"
wait_pid "$ALICE" 45 >/dev/null || true
check_eq "alice received the message sent over TLS" "over TLS to alice" \
    "$("$CLIENT" --get "$DIR/alice.jsonl" 0 body 2>/dev/null)"
stop_xmta
AUTHS=$(auth_lines)

# --- refused cases: never authenticated, a clear log line -------------------
refused() { # refused NAME DESCRIPTION TLS-LINES WANT-REGEX
    local name=$1 what=$2 lines=$3 want=$4
    run_xmta "$name" "$lines"
    if wait_until 15 grep -qE "error tls the certificate of 127.0.0.1:$EJABBERD_COMPONENT_PORT was refused: ($want)" \
        "$DIR/xmta-$name.log"; then
        ok "$what: refused with a clear log line"
    else
        not_ok "$what: refused with a clear log line ($want)"
    fi
    sleep 1
    if online; then
        not_ok "$what: never online"
    else
        ok "$what: never online"
    fi
    if grep -q 'state connecting -> opening' "$DIR/xmta-$name.log"; then
        not_ok "$what: no stream opened, no handshake sent"
    else
        ok "$what: no stream opened, no handshake sent"
    fi
    stop_xmta
    check_eq "$what: ejabberd logged no new component login" "$AUTHS" \
        "$(auth_lines)"
}
refused wrongca "another CA" "tls_ca = $DIR/ca2.pem
tls_name = xmpp.test" "self-signed certificate in certificate chain|unable to get local issuer certificate"
refused wrongname "a wrong name" "tls_ca = $DIR/ca.pem
tls_name = other.test" "hostname mismatch"

# --- no secret in any log ---------------------------------------------------
leak=0
for f in "$DIR"/xmta-*.log "$DIR"/xmta-*.stdout; do
    if grep -qF -e "$SECRET" -e "$TOKEN" "$f" ||
        grep -qE '[0-9a-f]{40}' "$f"; then
        leak=1
        not_ok "no secret, token or digest in $(basename "$f")"
    fi
done
[ "$leak" = 0 ] && ok "no secret, token or handshake digest in any xmta log (-v)"
it_summary
