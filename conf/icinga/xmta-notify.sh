#!/bin/sh
# SPDX-License-Identifier: MIT
# xmta-notify.sh -- Icinga 2 / Nagios notification command: posts one
# notification to an xmta hook with ntfy-style headers (Title, Priority,
# Tags, Click), so that it arrives as
#   ‼️ 🚨 *PROBLEM: disk on web-01 is CRITICAL*
#   DISK CRITICAL - free space: / 3%
#
# Configuration (environment; Icinga: see xmta-commands.conf, Nagios: see
# nagios-commands.cfg):
#   XMTA_URL        the hook URL with its token, e.g.
#                   https://xmta.example.org/hook/TOKEN  (required; or
#                   XMTA_URL_FILE, a file holding it, readable only by the
#                   monitoring user)
#   XMTA_TO         optional recipient JID (the hook's allow_to must allow it)
#   NOTIFICATIONTYPE PROBLEM, RECOVERY, ACKNOWLEDGEMENT, ...
#   HOSTNAME, HOSTDISPLAYNAME, HOSTSTATE, HOSTOUTPUT
#   SERVICEDESC, SERVICEDISPLAYNAME, SERVICESTATE, SERVICEOUTPUT (service
#                   notifications only)
#   NOTIFICATIONAUTHORNAME, NOTIFICATIONCOMMENT (acknowledgements)
#   XMTA_CLICK      optional link (e.g. the Icinga Web URL of the object)
# Exit status: 0 when xmta accepted the message, 1 otherwise.
set -u

url=${XMTA_URL:-}
if [ -z "$url" ] && [ -n "${XMTA_URL_FILE:-}" ]; then
    url=$(head -n 1 "$XMTA_URL_FILE") || exit 1
fi
[ -n "$url" ] || { echo "xmta-notify: XMTA_URL is not set" >&2; exit 1; }

type=${NOTIFICATIONTYPE:-PROBLEM}
host=${HOSTDISPLAYNAME:-${HOSTNAME:-unknown host}}
service=${SERVICEDISPLAYNAME:-${SERVICEDESC:-}}
if [ -n "$service" ]; then
    state=${SERVICESTATE:-UNKNOWN}
    output=${SERVICEOUTPUT:-}
    title="$type: $service on $host is $state"
else
    state=${HOSTSTATE:-UNKNOWN}
    output=${HOSTOUTPUT:-}
    title="$type: $host is $state"
fi

case $type:$state in
RECOVERY:* | *:OK | *:UP) tags=white_check_mark prio=3 ;;
ACKNOWLEDGEMENT:*) tags=eyes prio=3 ;;
*:CRITICAL | *:DOWN) tags=rotating_light prio=5 ;;
*:WARNING) tags=warning prio=4 ;;
*) tags=question prio=3 ;;
esac

body=$output
if [ -n "${NOTIFICATIONCOMMENT:-}" ]; then
    body="$body
${NOTIFICATIONAUTHORNAME:-someone}: $NOTIFICATIONCOMMENT"
fi
[ -n "$body" ] || body=$title

query=
[ -n "${XMTA_TO:-}" ] && query="?to=$(printf '%s' "$XMTA_TO" | sed 's/@/%40/')"

# A header value is one line: CR/LF in the title would end it.
title=$(printf '%s' "$title" | tr '\r\n' '  ')

set -- -sS --max-time 20 --fail -o /dev/null \
    -H 'Content-Type: text/plain; charset=utf-8' \
    -H "Title: $title" -H "Priority: $prio" -H "Tags: $tags"
[ -n "${XMTA_CLICK:-}" ] && set -- "$@" -H "Click: $XMTA_CLICK"
printf '%s' "$body" | curl "$@" --data-binary @- "$url/ntfy$query"
