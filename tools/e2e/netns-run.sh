#!/usr/bin/env bash
# Runs a command inside a fresh network namespace and always deletes it.
#
#   tools/e2e/netns-run.sh <cmd> [args…]
#
# Bridges, taps, guest addresses and every packet the command sends stay in
# the namespace `banger-e2e-<random>` (only `lo` is up at first; nothing links
# it to the host's network). On exit — success, failure, Ctrl-C or SIGTERM —
# every process still in the namespace is killed and the namespace deleted.
# The command's exit status is passed through. Needs root (or sudo -n).
#
# Inside, BANGER_NETNS holds the namespace's name, so tests can tell they run
# isolated and skip themselves otherwise.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 <command> [args…]" >&2
  exit 2
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if ! sudo -n true 2>/dev/null; then
    echo "netns-run: creating a network namespace needs root; run as root or allow passwordless sudo (docs/privileges.md)" >&2
    exit 2
  fi
  SUDO=(sudo -n)
fi

NS="banger-e2e-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
child=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
  fi
  if "${SUDO[@]}" ip netns list | grep -qw "$NS"; then
    # Processes that outlived the command (detached hypervisors, daemons).
    local pids
    pids=$("${SUDO[@]}" ip netns pids "$NS" 2>/dev/null || true)
    if [[ -n "$pids" ]]; then
      # shellcheck disable=SC2086
      "${SUDO[@]}" kill -TERM $pids 2>/dev/null || true
      sleep 1
      pids=$("${SUDO[@]}" ip netns pids "$NS" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [[ -n "$pids" ]] && "${SUDO[@]}" kill -KILL $pids 2>/dev/null || true
    fi
    "${SUDO[@]}" ip netns delete "$NS" || echo "netns-run: could not delete netns $NS" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${SUDO[@]}" ip netns add "$NS"
"${SUDO[@]}" ip -n "$NS" link set lo up

# Run as the calling user (sudo only for the netns switch) so files created
# by the command are not owned by root when we are not root.
if [[ ${#SUDO[@]} -eq 0 ]]; then
  ip netns exec "$NS" env BANGER_NETNS="$NS" "$@" &
else
  "${SUDO[@]}" ip netns exec "$NS" sudo -n -u "#$(id -u)" -g "#$(id -g)" env "PATH=$PATH" "HOME=$HOME" BANGER_NETNS="$NS" "$@" &
fi
child=$!
set +e
wait "$child"
status=$?
set -e
child=""
exit "$status"
