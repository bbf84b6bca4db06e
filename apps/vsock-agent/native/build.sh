#!/bin/sh
# Builds banger-pty (the guest agent's PTY helper) into $1: static, so it runs in any guest (glibc or musl).
# Used by `nx build @banger/vsock-agent`, the e2e harness and the helper's unit test, so all build it alike.
set -eu
out="$1"
mkdir -p "$(dirname "$out")"
exec gcc -static -Os -s -Wall -Wextra -Werror -o "$out" "$(dirname "$0")/banger-pty.c"
