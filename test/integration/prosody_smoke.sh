#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# prosody_smoke.sh -- checks the harness without xmta: a private Prosody
# starts, users log in, join a room, and one user's message reaches another.
# Usage: prosody_smoke.sh --client PATH/xmta_test_client
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
. "$HERE/prosody.sh"

CLIENT=${XMTA_TEST_CLIENT:-}
while [ $# -gt 0 ]; do
    case $1 in
    --client) CLIENT=$2; shift 2 ;;
    *) echo "usage: $0 --client PATH" >&2; exit 2 ;;
    esac
done
[ -x "$CLIENT" ] || { echo "no client at '$CLIENT'" >&2; exit 2; }

prosody_install_if_missing || exit $?
it_lock 300 || { echo "not ok - another integration run holds the lock"; exit 1; }
DIR=$(mktemp -d /tmp/xmta-smoke.XXXXXX)
chmod 755 "$DIR"

cleanup() {
    it_kill_all
    prosody_stop "$DIR"
    if [ "$IT_FAILED" -eq 0 ] && [ -z "${XMTA_KEEP:-}" ]; then
        rm -rf "$DIR"
    else
        echo "# files kept in $DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

C=(--host 127.0.0.1 --port "$PROSODY_C2S_PORT")

if ! prosody_setup "$DIR" || ! prosody_start "$DIR"; then
    not_ok "private Prosody starts"
    it_summary
    exit 1
fi
ok "private Prosody starts on 127.0.0.1:$PROSODY_C2S_PORT"

# bob waits for one message; alice sends it once bob is online.
"$CLIENT" "${C[@]}" --jid bob@localhost --password bob-pw --expect 1 \
    --timeout 30 --out "$DIR/bob.jsonl" >"$DIR/bob.stdout" \
    2>"$DIR/bob.stderr" &
BOB=$!
it_track "$BOB"
check "bob logs in" wait_for_line "$DIR/bob.stdout" ready 20 "$BOB"

BODY='smoke <&> ]]> Grüße ✓ 🔥'
"$CLIENT" "${C[@]}" --jid alice@localhost --password alice-pw \
    --send bob@localhost --body "$BODY" --duration 1 --timeout 20 \
    >"$DIR/alice.stdout" 2>"$DIR/alice.stderr"
check_eq "alice logs in and sends" 0 $?

wait_pid "$BOB" 20
check_eq "bob receives one message" 0 $?
check_eq "bob's message body is exact" "$BODY" \
    "$("$CLIENT" --get "$DIR/bob.jsonl" 0 body)"
check_eq "bob's message is from alice" alice@localhost \
    "$("$CLIENT" --get "$DIR/bob.jsonl" 0 from | cut -d/ -f1)"
check_eq "bob's message is type chat" chat \
    "$("$CLIENT" --get "$DIR/bob.jsonl" 0 type)"

# carol creates a room, then alice joins it too.
"$CLIENT" "${C[@]}" --jid carol@localhost --password carol-pw \
    --join ops@conference.localhost/carol --duration 30 --timeout 40 \
    >"$DIR/carol.stdout" 2>"$DIR/carol.stderr" &
CAROL=$!
it_track "$CAROL"
check "carol joins a room" wait_for_line "$DIR/carol.stdout" ready 20 "$CAROL"
"$CLIENT" "${C[@]}" --jid alice@localhost --password alice-pw \
    --join ops@conference.localhost/alice --timeout 20 \
    >"$DIR/alice2.stdout" 2>"$DIR/alice2.stderr"
check_eq "alice joins the same room" 0 $?
it_kill "$CAROL"

# A restart on the same directory keeps the accounts.
if prosody_restart "$DIR"; then
    ok "Prosody restarts on the same directory"
else
    not_ok "Prosody restarts on the same directory"
fi
"$CLIENT" "${C[@]}" --jid bob@localhost --password bob-pw --timeout 20 \
    >"$DIR/bob2.stdout" 2>"$DIR/bob2.stderr"
check_eq "bob logs in after the restart" 0 $?
"$CLIENT" "${C[@]}" --jid bob@localhost --password wrong --timeout 20 \
    >"$DIR/bob3.stdout" 2>"$DIR/bob3.stderr"
check_eq "a wrong password fails" 1 $?

if [ "$IT_FAILED" -ne 0 ]; then
    for f in "$DIR"/*.stderr; do
        echo "# --- $f"
        sed 's/^/#   /' "$f"
    done
    echo "# --- prosody.log (tail)"
    tail -n 40 "$DIR/prosody.log" | sed 's/^/#   /'
fi
it_summary
