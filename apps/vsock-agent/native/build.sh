#!/bin/sh
# Builds one of the guest agent's static helpers into $1, chosen by its file name: banger-pty (the PTY
# helper) or banger-vsock-relay (the vsock relay), from native/<name>.c. Static, so it runs in any
# guest (glibc or musl). Used by `nx build @banger/vsock-agent`, the e2e harness, the bench fixtures
# and the helpers' unit tests, so all build them alike.
set -eu
out="$1"
name="$(basename "$out")"
case "$name" in
  banger-pty|banger-vsock-relay) ;;
  *) echo "build.sh: unknown helper $name (banger-pty or banger-vsock-relay)" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$out")"
exec gcc -static -Os -s -Wall -Wextra -Werror -o "$out" "$(dirname "$0")/$name.c"
