#!/usr/bin/env bash
# Launches `adan ARGS...` on W ranks with MPICH's Hydra launcher.
# Usage: deploy/mpirun.sh W [HOSTFILE] -- ARGS...
set -euo pipefail
ranks=${1:?usage: deploy/mpirun.sh W [HOSTFILE] -- ARGS...}
shift
hostfile=()
if [ "${1:-}" != "--" ] && [ -n "${1:-}" ]; then
    hostfile=(-f "$1")
    shift
fi
[ "${1:-}" = "--" ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
exec mpiexec.mpich -n "$ranks" "${hostfile[@]}" "$here/bin/adan" "$@"
