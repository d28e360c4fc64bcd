#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# https.sh -- the daemon's HTTP side in production dress (issue 6), with no
# XMPP server: HTTPS and plain listeners side by side (curl against a test
# certificate made here with the openssl CLI), TLS 1.2+ only, stalled
# clients (plain and TLS) that never finish their headers while others are
# answered, the certificate reloaded on SIGHUP (and a broken one refused),
# /metrics and status_allow, token_sha256, `xmta token`, the config
# permission warning.
#
# usage: https.sh --xmta PATH
# Ports 15420-15422 (helper c's range), serialized by a lock of their own.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

XMTA=
while [ $# -gt 0 ]; do
    case $1 in
    --xmta) XMTA=$2; shift 2 ;;
    *) echo "usage: $0 --xmta PATH" >&2; exit 2 ;;
    esac
done
[ -x "$XMTA" ] || { echo "no xmta at '$XMTA'" >&2; exit 2; }
XMTA=$(it_xmta "$XMTA") || exit 2 # valgrind (lib.sh)
for tool in curl openssl; do
    command -v $tool >/dev/null || { echo "# $tool missing: skipped"; exit 77; }
done

TLS_PORT=15420
PLAIN_PORT=15421
XMPP_PORT=15422 # nothing listens: the stream keeps reconnecting
XMTA_IT_LOCK=/tmp/xmta-https-15420.lock it_lock 120 || exit 1

DIR=$(mktemp -d /tmp/xmta-https.XXXXXX)
LOG=$DIR/xmta.log
cleanup() {
    it_kill_all
    exec 3>&- 4>&- 5>&- 6>&- 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

# make_cert NAME CN: a self-signed EC certificate for 127.0.0.1 and
# localhost, its key without a passphrase.
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$DIR/$1.key" -out "$DIR/$1.pem" 2>/dev/null
}

# fingerprint_served: SHA-256 fingerprint of the certificate on TLS_PORT.
fingerprint_served() {
    openssl s_client -connect 127.0.0.1:$TLS_PORT </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

# code URL [CURL ARGS...]: the HTTP status of a POST (000 if none).
code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" \
        --data-binary 'hello from curl' "$url" 2>/dev/null
}

# --- xmta token: both forms -------------------------------------------------
OUT=$("$XMTA" token)
TOKEN=$(sed -n 's/^token = //p' <<<"$OUT")
SHA=$(sed -n 's/^token_sha256 = //p' <<<"$OUT")
check_eq "xmta token prints two lines" 2 "$(wc -l <<<"$OUT" | tr -d ' ')"
check "the token is 43 url-safe characters" \
    grep -qE '^[A-Za-z0-9_-]{43}$' <<<"$TOKEN"
check_eq "token_sha256 is the SHA-256 of the token" \
    "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" "$SHA"
PLAIN_TOKEN=$("$XMTA" token | sed -n 's/^token = //p')

# --- the configuration --------------------------------------------------------
make_cert a "xmta-test-a" || { echo "openssl cannot make a certificate"; exit 1; }
cat >"$DIR/xmta.conf" <<EOF
[component]
domain = notify.example.org
server = 127.0.0.1
port = $XMPP_PORT
secret = s3cret-s3cret

[http]
listen = 127.0.0.1:$TLS_PORT tls
listen = 127.0.0.1:$PLAIN_PORT
tls_cert = a.pem
tls_key = a.key
header_timeout = 2
body_timeout = 1
status_allow = 127.0.0.1

[spool]
path = none

[hook hashed]
token_sha256 = $SHA
to = alice@example.org

[hook plain]
token = $PLAIN_TOKEN
to = bob@example.org
EOF

# --- permission warning --------------------------------------------------------
chmod 644 "$DIR/xmta.conf"
W=$("$XMTA" check -c "$DIR/xmta.conf" 2>&1)
check "a config readable by others is warned about, naming file and mode" \
    grep -qF "warn conf $DIR/xmta.conf is readable by group or others (mode 0644)" <<<"$W"
check "xmta check still accepts it" grep -qF ": ok (domain" <<<"$W"
chmod 600 "$DIR/xmta.conf"
W=$("$XMTA" check -c "$DIR/xmta.conf" 2>&1)
check "mode 600: no warning" bash -c '! grep -q "readable by" <<<"$1"' _ "$W"

# --- start -----------------------------------------------------------------------
"$XMTA" -c "$DIR/xmta.conf" 2>"$LOG" &
PID=$!
it_track "$PID"
for ((i = 0; i < 50; i++)); do
    grep -q "listening on 127.0.0.1:$PLAIN_PORT" "$LOG" && break
    sleep 0.1
done
check "xmta listens on both addresses" \
    grep -qF "listening on 127.0.0.1:$TLS_PORT (https)" "$LOG"

# --- HTTPS and plain side by side ------------------------------------------------
check_eq "HTTPS POST with the hashed token: 202" 202 \
    "$(code "https://127.0.0.1:$TLS_PORT/hook/$TOKEN" --cacert "$DIR/a.pem")"
check_eq "HTTPS by name (localhost): 202" 202 \
    "$(code "https://localhost:$TLS_PORT/hook" --cacert "$DIR/a.pem" \
        -H "Authorization: Bearer $PLAIN_TOKEN")"
check_eq "plain POST on the plain listener: 202" 202 \
    "$(code "http://127.0.0.1:$PLAIN_PORT/hook/$PLAIN_TOKEN")"
check_eq "the sha256 itself is no token: 401" 401 \
    "$(code "https://127.0.0.1:$TLS_PORT/hook/$SHA" --cacert "$DIR/a.pem")"
check_eq "plain HTTP on the TLS listener gets no answer" 000 \
    "$(code "http://127.0.0.1:$TLS_PORT/hook/$TOKEN")"
check_eq "HTTPS on the plain listener fails" 000 \
    "$(code "https://127.0.0.1:$PLAIN_PORT/hook/$TOKEN" --cacert "$DIR/a.pem")"
check_eq "an unknown CA is refused by curl" 000 \
    "$(code "https://127.0.0.1:$TLS_PORT/hook/$TOKEN")"
check "TLS 1.3 is offered" bash -c "openssl s_client -connect \
    127.0.0.1:$TLS_PORT -tls1_3 </dev/null 2>/dev/null | grep -q TLSv1.3"
check "TLS 1.2 is offered" bash -c "openssl s_client -connect \
    127.0.0.1:$TLS_PORT -tls1_2 </dev/null 2>/dev/null | grep -q TLSv1.2"
check "TLS 1.1 is refused" bash -c "! openssl s_client -connect \
    127.0.0.1:$TLS_PORT -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null \
    >/dev/null 2>&1"

# --- stalled clients while others are answered -----------------------------------
# Two plain clients stop inside their headers; two TLS clients never even
# say hello.
exec 3<>/dev/tcp/127.0.0.1/$PLAIN_PORT 4<>/dev/tcp/127.0.0.1/$PLAIN_PORT
exec 5<>/dev/tcp/127.0.0.1/$TLS_PORT 6<>/dev/tcp/127.0.0.1/$TLS_PORT
printf 'POST /hook/%s HTTP/1.1\r\nHost: x\r\nX-Slow: ' "$PLAIN_TOKEN" >&3
printf 'POST /hook/%s HTTP/1.1\r\n' "$PLAIN_TOKEN" >&4
T0=$(date +%s%N)
ALL=ok
for ((i = 0; i < 4; i++)); do
    [ "$(code "https://127.0.0.1:$TLS_PORT/hook/$TOKEN" --cacert "$DIR/a.pem")" = 202 ] || ALL=bad
    [ "$(code "http://127.0.0.1:$PLAIN_PORT/hook/$PLAIN_TOKEN")" = 202 ] || ALL=bad
done
MS=$((($(date +%s%N) - T0) / 1000000))
check_eq "8 requests answered 202 beside 4 stalled clients" ok "$ALL"
check "... within 1.5 s (took ${MS} ms)" test "$MS" -lt 1500
# header_timeout = 2: each stalled connection is closed by the server.
for fd in 3 4 5 6; do
    check "stalled client on fd $fd closed by header_timeout" \
        bash -c "timeout 5 cat <&$fd >/dev/null"
done
exec 3>&- 4>&- 5>&- 6>&-
check "the timeouts are logged" \
    grep -q "closing a slow connection: headers not received in 2s" "$LOG"
# A TLS client whose headers are in but whose body stops: body_timeout.
(printf 'POST /hook/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc' \
    "$TOKEN"; sleep 3) | timeout 5 openssl s_client -quiet -connect \
    127.0.0.1:$TLS_PORT -CAfile "$DIR/a.pem" >/dev/null 2>&1
check "a TLS client stalled inside its body is closed by body_timeout" \
    grep -q "closing a slow connection: body not received in 1s" "$LOG"

# --- metrics and status_allow ------------------------------------------------------
M=$(curl -s --max-time 3 --cacert "$DIR/a.pem" "https://127.0.0.1:$TLS_PORT/metrics")
check_eq "metrics: hashed hook's 202s" 'xmta_http_requests_total{hook="hashed",code="202"} 5' \
    "$(grep -F 'xmta_http_requests_total{hook="hashed",code="202"}' <<<"$M")"
check_eq "metrics: plain hook accepted" 'xmta_messages_accepted_total{hook="plain"} 6' \
    "$(grep -F 'xmta_messages_accepted_total{hook="plain"}' <<<"$M")"
check_eq "metrics: four header timeouts" \
    'xmta_http_connections_timed_out_total{phase="headers"} 4' \
    "$(grep -F 'timed_out_total{phase="headers"}' <<<"$M")"
check_eq "metrics: one body timeout" \
    'xmta_http_connections_timed_out_total{phase="body"} 1' \
    "$(grep -F 'timed_out_total{phase="body"}' <<<"$M")"
check_eq "metrics: the stream is down" 'xmta_stream_up 0' \
    "$(grep '^xmta_stream_up ' <<<"$M")"
check "metrics: TYPE lines" grep -qx '# TYPE xmta_http_request_duration_seconds histogram' <<<"$M"
check_eq "health over HTTPS from 127.0.0.1 (allowed; offline: 503)" 503 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$DIR/a.pem" \
        "https://127.0.0.1:$TLS_PORT/health")"

# --- certificate reload on SIGHUP ---------------------------------------------------
FP_A=$(openssl x509 -noout -fingerprint -sha256 -in "$DIR/a.pem")
check_eq "serves certificate a" "$FP_A" "$(fingerprint_served)"
make_cert b "xmta-test-b"
cp "$DIR/b.pem" "$DIR/a.pem"
cp "$DIR/b.key" "$DIR/a.key"
FP_B=$(openssl x509 -noout -fingerprint -sha256 -in "$DIR/b.pem")
kill -HUP "$PID"
for ((i = 0; i < 30; i++)); do
    grep -q "reloaded: domain" "$LOG" && break
    sleep 0.1
done
check "SIGHUP logs the certificate reload" grep -qF "reloaded tls_cert $DIR/a.pem" "$LOG"
check_eq "after SIGHUP it serves certificate b" "$FP_B" "$(fingerprint_served)"
check_eq "HTTPS with the new CA: 202" 202 \
    "$(code "https://127.0.0.1:$TLS_PORT/hook/$TOKEN" --cacert "$DIR/b.pem")"
echo "not a certificate" >"$DIR/a.pem"
kill -HUP "$PID"
for ((i = 0; i < 30; i++)); do
    grep -q "reload rejected" "$LOG" && break
    sleep 0.1
done
check "a broken certificate is refused, naming the file" \
    grep -qF "cannot load tls_cert $DIR/a.pem" "$LOG"
check_eq "... and certificate b is still served" "$FP_B" "$(fingerprint_served)"
check "xmta is still running" kill -0 "$PID"
W=$("$XMTA" check -c "$DIR/xmta.conf" 2>&1)
check "xmta check refuses the broken certificate" \
    grep -qF "$DIR/xmta.conf: cannot load tls_cert $DIR/a.pem: " <<<"$W"

it_kill "$PID"
check "no token in the log" bash -c "! grep -qF -e '$TOKEN' -e '$PLAIN_TOKEN' '$LOG'"
it_summary
