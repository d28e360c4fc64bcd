#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# run_formats.sh -- webhook formats end to end (issue 5): a private Prosody
# 0.12 or ejabberd 23.01 (the same cases on both), the real daemon and a
# real XMPP client. Each fixture of test/fixtures is
# POSTed as its tool sends it; the HTTP answer must fit the caller (Slack
# "ok", Discord 204, JSON 202) and alice must receive exactly the rendered
# text. Also: forced formats, signatures, a per-hook template.
# A server that cannot be installed or started fails the run.
# Usage: run_formats.sh prosody|ejabberd --xmta PATH/xmta
#                       --client PATH/xmta_test_client
# XMTA_KEEP=1 keeps the temp dir.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=$(cd "$HERE/../fixtures" && pwd)
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
SECRET=fmt-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
DOMAIN=notify.localhost
DIR=$(mktemp -d /tmp/xmta-fmt.XXXXXX)
chmod 755 "$DIR"
mkdir -p "$DIR/http"
XMTA_PID=""
ZW=$'\xe2\x80\x8b'

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

safe_name() { printf '%s' "$1" | tr -c 'A-Za-z0-9' _; }

# post NAME PATH CURL-ARGS...: prints the status; body in $DIR/http/NAME.body
post() {
    local name
    name=$(safe_name "$1")
    shift
    local path=$1
    shift
    curl -sS --max-time 15 -X POST -o "$DIR/http/$name.body" \
        -D "$DIR/http/$name.hdr" -w '%{http_code}' "$@" "$BASE$path" \
        2>>"$DIR/curl.stderr"
}

port_open "$HTTP_PORT" && bail "port $HTTP_PORT is free for xmta"

T_FMT=$("$XMTA" token | sed -n "s/^token = //p")
T_SIG=$("$XMTA" token | sed -n "s/^token = //p")
T_TPL=$("$XMTA" token | sed -n "s/^token = //p")
SIGKEY=sig-key-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$DIR/xmta.ini" <<EOF
[component]
domain = $DOMAIN
server = 127.0.0.1
port = $COMPONENT_PORT
secret = $SECRET

[spool]
path = none

[http]
listen = 127.0.0.1:$HTTP_PORT

[hook fmt]
token = $T_FMT
from = fmt
to = alice@localhost

[hook signed]
token = $T_SIG
from = forge
to = alice@localhost
secret = $SIGKEY

[hook tpl]
token = $T_TPL
from = tpl
to = alice@localhost
format = alertmanager
max_message = 200
template = {{#if status == "firing"}}🔥{{else}}✅{{/if}} {{ groupLabels.alertname }}:
template = {{#each alerts}} {{ labels.instance | upper }}{{/each}} at {{ alerts.0.startsAt | date("%H:%M") }}
EOF
"$XMTA" check -c "$DIR/xmta.ini" >"$DIR/check.out" 2>&1 ||
    bail "xmta check accepts the config ($(cat "$DIR/check.out"))"
ok "xmta check accepts format, template, max_message, secret"

# The server is configured with exactly what `xmta setup` prints.
"$XMTA" setup "$SERVER" -c "$DIR/xmta.ini" >"$DIR/setup.block" 2>"$DIR/setup.err" ||
    bail "xmta setup $SERVER -c xmta.ini ($(cat "$DIR/setup.err"))"
srv_setup "$DIR/setup.block" || bail "$SRV_NAME setup (config, users)"
srv_start || bail "private $SRV_NAME starts"
ok "private $SRV_NAME runs"

# A template error is a config error with FILE:LINE.
sed 's/{{#each alerts}}/{{#each alerts}{/' "$DIR/xmta.ini" >"$DIR/bad.ini"
out=$("$XMTA" check -c "$DIR/bad.ini" 2>&1)
check_eq "bad template: xmta check names the line" \
    "$DIR/bad.ini:31: bad template in [hook tpl]: expected '}}'" "$out"

"$CLIENT" --host 127.0.0.1 --port "$C2S_PORT" --jid alice@localhost \
    --password alice-pw --out "$DIR/alice.jsonl" --expect 0 --duration 120 \
    --timeout 130 >"$DIR/alice.stdout" 2>"$DIR/alice.stderr" &
ALICE=$!
it_track "$ALICE"
wait_for_line "$DIR/alice.stdout" ready 20 "$ALICE" || bail "alice is online"

"$XMTA" -v -c "$DIR/xmta.ini" >"$DIR/xmta.stdout" 2>"$DIR/xmta.log" </dev/null &
XMTA_PID=$!
for ((i = 0; i < 150; i++)); do
    curl -s --max-time 2 "$BASE/health" | grep -qE '"component" *: *"online"' && break
    sleep 0.2
done
curl -s --max-time 2 "$BASE/health" | grep -qE '"component" *: *"online"' ||
    bail "xmta is online"
ok "xmta is online"

WANTS=()
# expect_post NAME CODE EXPECTED-BODY PATH CURL-ARGS...
expect_post() {
    local name=$1 code=$2 want=$3 got
    shift 3
    got=$(post "$name" "$@")
    check_eq "$name: HTTP $code" "$code" "$got"
    [ -n "$want" ] && WANTS+=("$want")
}
J=(-H 'Content-Type: application/json')

expect_post "alertmanager v4" 202 \
"*🔥 FIRING [5] DiskFull — prod*
🔥 instance=db1:9100 mountpoint=/var/lib/foo_bar_baz: Disk /var is 95% full
🔥 instance=db2:9100 mountpoint=/srv: Disk /srv is $ZW*97%* full
… (3 more alerts not sent)
Runbook: https://runbooks.example.org/DiskFull
Source: http://prometheus.example.org/graph?g0.expr=disk" \
    "/hook/$T_FMT" "${J[@]}" --data-binary "@$FIX/alertmanager_firing.json"
expect_post "grafana unified" 202 \
"*🔥 FIRING [1] Température élevée — Serveurs*
🔥 Température du disque: 61 °C
Source: https://grafana.example.org/alerting/grafana/abc/view
Dashboard: https://grafana.example.org/d/xyz
Panel: https://grafana.example.org/d/xyz?viewPanel=2
Silence: https://grafana.example.org/alerting/silence/new?matcher=alertname%3DT
Image: https://grafana.example.org/render/abc.png" \
    "/hook/$T_FMT" "${J[@]}" --data-binary "@$FIX/grafana_unified.json"
expect_post "slack JSON" 200 \
"🚨 New alert & more
🔴 *[FIRING:1] InstanceDown for api (prod)* (http://am:9093/#/alerts?receiver=slack)
*Alert:* Instance down - \`critical\`
*Description:* api:8080 (http://api:8080) has been down for _5 minutes_ ❌
Severity: critical
Runbook: https://runbooks/x
Prometheus" \
    "/hook/$T_FMT" "${J[@]}" --data-binary "@$FIX/slack.json"
check_eq "slack JSON: the answer is ok" "ok" "$(cat "$DIR/http/slack_JSON.body")"
expect_post "slack form payload=" 200 \
    "Deploy of *web* to prod (https://ci.example.org/42) finished 🎉" \
    "/hook/$T_FMT" --data-binary "@$FIX/slack_form.txt"
expect_post "discord" 204 \
"*Backup* finished ~late~ on time
*nightly-2024-05-01* (https://backup.example.org/runs/1)
12 GB in 3 min, see the log (https://backup.example.org/runs/1/log)
Host: nas-01
Duration: 3m02s
restic 0.16" \
    "/hook/$T_FMT/discord" "${J[@]}" --data-binary "@$FIX/discord.json"
expect_post "uptime kuma test send" 202 \
    "Uptime Kuma Webhook Testing - 2024-05-01 14:03:00" \
    "/hook/$T_FMT" "${J[@]}" --data-binary "@$FIX/kuma_test.json"
expect_post "teams messagecard" 202 \
"*PROBLEM: High CPU on web-01*
CPU load is above 90% for 5m
*web-01*
Zabbix 6.4
Severity: High
Event ID: 4711
Open in Zabbix: https://zabbix.example.org/tr_events.php?eventid=4711" \
    "/hook/$T_FMT" "${J[@]}" --data-binary "@$FIX/teams_messagecard.json"
expect_post "ntfy headers" 202 \
"❗ 🔥 *Backup failed*
nightly backup of nas-01 failed
Tags: nas" \
    "/hook/$T_FMT" -H 'Title: Backup failed' -H 'Priority: high' \
    -H 'Tags: fire,nas' --data-binary 'nightly backup of nas-01 failed'
expect_post "unknown JSON as YAML" 202 \
"event: backup.finished
ok: true
size_bytes: 1234
host:
  name: nas_01
  tags:
    - a
    - b
notes: line one
  line two
empty: {}
none: null" \
    "/hook/$T_FMT" "${J[@]}" --data-binary "@$FIX/unknown.json"
expect_post "forced format mismatch" 400 "" \
    "/hook/$T_FMT/alertmanager" "${J[@]}" --data-binary "@$FIX/slack.json"
check "forced format mismatch: says what was expected" \
    grep -qF 'expected an Alertmanager webhook' "$DIR/http/forced_format_mismatch.body"
expect_post "unknown format in the path" 404 "" \
    "/hook/$T_FMT/nosuch" "${J[@]}" --data-binary '{}'

# Signatures: GitHub HMAC, GitLab token, missing and bad ones.
SIG=$(openssl dgst -sha256 -hmac "$SIGKEY" "$FIX/github_push.json" | sed 's/^.*= //')
expect_post "github push, good signature" 202 \
"*📦 alice pushed 2 commits to acme/web:main*
• 1a2b3c4 Fix ${ZW}_escape_ of labels (Alice)
• 9f8e7d6 Bump version (Bob)
https://github.com/acme/web/compare/0000000...9f8e7d6" \
    "/hook/$T_SIG" "${J[@]}" -H 'X-GitHub-Event: push' \
    -H "X-Hub-Signature-256: sha256=$SIG" --data-binary "@$FIX/github_push.json"
expect_post "gitlab pipeline, good token" 202 \
"*❌ pipeline #31 failed on master in gitlab-org/gitlab-test*
http://example.com/gitlab-org/gitlab-test/-/pipelines/31" \
    "/hook/$T_SIG" "${J[@]}" -H 'X-Gitlab-Event: Pipeline Hook' \
    -H "X-Gitlab-Token: $SIGKEY" --data-binary "@$FIX/gitlab_pipeline.json"
# The good signature with its last hex digit changed (never to itself).
case $SIG in *0) BADSIG=${SIG%?}1 ;; *) BADSIG=${SIG%?}0 ;; esac
expect_post "bad signature" 401 "" \
    "/hook/$T_SIG" "${J[@]}" -H 'X-GitHub-Event: push' \
    -H "X-Hub-Signature-256: sha256=$BADSIG" --data-binary "@$FIX/github_push.json"
expect_post "missing signature" 401 "" \
    "/hook/$T_SIG" "${J[@]}" --data-binary "@$FIX/github_push.json"
check "missing signature: says so" grep -qF 'missing signature' \
    "$DIR/http/missing_signature.body"

# The template hook (format = alertmanager forced).
expect_post "template" 202 "🔥 DiskFull:
 DB1:9100 DB2:9100 at 12:03" \
    "/hook/$T_TPL" "${J[@]}" --data-binary "@$FIX/alertmanager_firing.json"

# The shipped Icinga/Nagios and Zabbix scripts, against the live daemon.
CONF=$(cd "$HERE/../../conf" && pwd)
if env XMTA_URL="$BASE/hook/$T_FMT" NOTIFICATIONTYPE=PROBLEM HOSTNAME=web-01 \
    SERVICEDESC=disk SERVICESTATE=CRITICAL \
    SERVICEOUTPUT='DISK CRITICAL - free space: / 3%' \
    sh "$CONF/icinga/xmta-notify.sh" 2>>"$DIR/scripts.stderr"; then
    ok "conf/icinga/xmta-notify.sh is accepted"
    WANTS+=("‼️ 🚨 *PROBLEM: disk on web-01 is CRITICAL*
DISK CRITICAL - free space: / 3%")
else
    not_ok "conf/icinga/xmta-notify.sh is accepted"
fi
echo "$BASE/hook/$T_FMT" >"$DIR/zabbix.url"
if XMTA_URL_FILE="$DIR/zabbix.url" sh "$CONF/zabbix/xmta-zabbix.sh" - \
    'Problem: CPU load' 'web-01: load 12 (High)' 2>>"$DIR/scripts.stderr"; then
    ok "conf/zabbix/xmta-zabbix.sh is accepted"
    WANTS+=("*Problem: CPU load*
web-01: load 12 (High)")
else
    not_ok "conf/zabbix/xmta-zabbix.sh is accepted"
fi

# --- what alice received -----------------------------------------------------
N=${#WANTS[@]}
wait_lines "$DIR/alice.jsonl" "$N" 30 || true
have=$(count_lines "$DIR/alice.jsonl")
check_eq "alice received one message per accepted request" "$N" "$have"
declare -A GOT
for ((i = 0; i < have; i++)); do
    GOT[$i]=$("$CLIENT" --get "$DIR/alice.jsonl" "$i" body 2>/dev/null)
done
for want in "${WANTS[@]}"; do
    found=""
    for ((i = 0; i < have; i++)); do
        if [ "${GOT[$i]}" == "$want" ]; then
            found=1
            break
        fi
    done
    if [ -n "$found" ]; then
        ok "received: ${want%%$'\n'*}"
    else
        not_ok "received: ${want%%$'\n'*}"
        printf '#   want: %q\n' "$want"
    fi
done
if [ -n "$found" ] && [ "$IT_FAILED" -ne 0 ]; then
    for ((i = 0; i < have; i++)); do printf '#   got %d: %q\n' "$i" "${GOT[$i]}"; done
fi
check "the signing key is not in the log" bash -c "! grep -qF '$SIGKEY' '$DIR/xmta.log'"
it_summary
