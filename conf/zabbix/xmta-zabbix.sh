#!/bin/sh
# SPDX-License-Identifier: MIT
# xmta-zabbix.sh -- Zabbix "Script" media type: sends one alert to xmta.
#
# Zabbix calls it with the media type's script parameters, in order:
#   {ALERT.SENDTO}   the user's "Send to": a JID (the hook's allow_to must
#                    allow it), or "-" for the hook's own to/room
#   {ALERT.SUBJECT}  becomes the bold first line
#   {ALERT.MESSAGE}  the text
# The hook URL with its token is read from /etc/zabbix/xmta.url (or
# $XMTA_URL_FILE): keep that file readable by the zabbix user only.
# Install: copy to the AlertScriptsPath directory (often
# /usr/lib/zabbix/alertscripts), chmod 755, then Alerts > Media types >
# Create: type Script, script name xmta-zabbix.sh, the three parameters
# above.
set -u

sendto=${1:-}
subject=${2:-}
message=${3:-}
file=${XMTA_URL_FILE:-/etc/zabbix/xmta.url}
url=$(head -n 1 "$file") || exit 1
[ -n "$message" ] || message=$subject

set -- -sS --max-time 20 --fail -o /dev/null \
    --data-urlencode "title=$subject" --data-urlencode "body=$message"
if [ -n "$sendto" ] && [ "$sendto" != "-" ]; then
    set -- "$@" --data-urlencode "to=$sendto"
fi
curl "$@" "$url"
