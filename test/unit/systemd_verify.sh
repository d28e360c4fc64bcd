#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# systemd_verify.sh -- checks conf/xmta.service with `systemd-analyze
# verify` (any diagnostic fails the test, since verify exits 0 on values it
# ignores) and `systemd-analyze security --offline` (exposure at most 2.0).
# ExecStart's /usr/bin/xmta is replaced by the built binary, as verify
# wants the command to exist. Exit 77 (skipped) only without systemd-analyze.
# usage: systemd_verify.sh UNIT XMTA-BINARY
set -u
unit=$1 bin=$2
command -v systemd-analyze >/dev/null || {
    echo "systemd-analyze not installed: skipped"
    exit 77
}
tmp=$(mktemp -d /tmp/xmta-unit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
grep -q '^Type=notify$' "$unit" || { echo "FAIL: not Type=notify"; exit 1; }
for k in DynamicUser=yes StateDirectory=xmta ProtectSystem=strict \
    NoNewPrivileges=yes 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$k" "$unit" || { echo "FAIL: $k missing"; exit 1; }
done
sed "s|^ExecStart=/usr/bin/xmta |ExecStart=$bin |" "$unit" >"$tmp/xmta.service"
out=$(systemd-analyze verify "$tmp/xmta.service" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify (rc $rc):"
    echo "$out"
    exit 1
fi
echo "ok: systemd-analyze verify: no diagnostics"
sec=$(systemd-analyze security --offline=yes "$tmp/xmta.service" 2>&1)
level=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for xmta.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
    echo "FAIL: no exposure level from systemd-analyze security:"
    printf '%s\n' "$sec" | tail -5
    exit 1
fi
if ! awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
    echo "FAIL: exposure level $level > 2.0"
    exit 1
fi
echo "ok: systemd-analyze security: exposure $level"
