#!/bin/sh
# Builds one of the guest agent's static helpers into $1, chosen by its file name: a name ending in
# banger-vsock-relay is the vsock relay, one ending in banger-reseed the RNG reseeder, any other the PTY
# helper banger-pty (native/<helper>.c). Static, so it runs in any
# guest (glibc or musl). Used by `nx build @banger/vsock-agent`, the e2e harness, the bench fixtures
# and the helpers' unit tests, so all build them alike.
set -eu
out="$1"
case "$(basename "$out")" in
  *banger-vsock-relay) name=banger-vsock-relay ;;
  *banger-reseed) name=banger-reseed ;;
  *) name=banger-pty ;;
esac
mkdir -p "$(dirname "$out")"
exec gcc -static -Os -s -Wall -Wextra -Werror -o "$out" "$(dirname "$0")/$name.c"
