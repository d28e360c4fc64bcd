#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_prosody.sh -- kept for old callers: run_server.sh against Prosody.
# Usage: run_prosody.sh --xmta PATH/xmta --client PATH/xmta_test_client
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_server.sh" prosody "$@"
