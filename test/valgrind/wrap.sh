#!/bin/sh
# SPDX-License-Identifier: MIT
# wrap.sh -- runs a program under valgrind memcheck with the options every
# valgrind test run uses (XMTA_VALGRIND=ON, test/valgrind.cmake; xmta in
# the integration scripts, test/integration/lib.sh).
# Usage: wrap.sh [MORE-VALGRIND-OPTIONS...] PROGRAM [ARGS...]
#   Any error, and any leak (definite, indirect or possible), makes the
#   program exit 99. Programs the test runs itself (xmta from test_daemon)
#   are followed too; system tools (/bin, /usr) are not.
#   XMTA_VALGRIND_EXTRA: more options, e.g. --track-origins=yes.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2086 # XMTA_VALGRIND_EXTRA is a list of options
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible \
    --num-callers=30 --suppressions="$here/xmta.supp" \
    --trace-children=yes \
    --trace-children-skip='/bin/*,/sbin/*,/usr/*' \
    ${XMTA_VALGRIND_EXTRA:-} "$@"
