#!/usr/bin/env bash
# Gradient synchronisation across hosts: `adan bench allreduce` on 2 ranks placed on 2 namespace hosts
# (scripts/netns-cluster.sh), MPI over TCP through the bridge, next to the same 2 ranks on one of those hosts over TCP
# (the same transport without the bridge) and on one host over shared memory (MPICH's default there). Writes
# bench/results/allreduce-hosts.json: one record per (placement, size) with bench allreduce's fields.
# Needs root and `ip netns`; elsewhere it says why and writes nothing.
# Settings: BENCH_MIB (sizes, default "16 256"), BENCH_ITERATIONS (0 = bench's choice by size), BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(cd "$(dirname "$(bench_adan)")" && pwd)/$(basename "$(bench_adan)")
sizes=${BENCH_MIB:-16 256}
iterations=${BENCH_ITERATIONS:-0}
out=${BENCH_OUT:-bench/results/allreduce-hosts.json}

if [[ $(id -u) -ne 0 ]] || ! ip netns list >/dev/null 2>&1; then
    echo "bench-multihost: skipped: needs root and 'ip netns' for namespace hosts (scripts/netns-cluster.sh)"
    exit 0
fi

export NETNS_CLUSTER_NAME=${NETNS_CLUSTER_NAME:-abench}
tmp=$(mktemp -d)
cleanup() {
    scripts/netns-cluster.sh down > /dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
scripts/netns-cluster.sh up 2 > /dev/null
state=${NETNS_CLUSTER_STATE:-/run/adan-netns/$NETNS_CLUSTER_NAME}
# shellcheck source=/dev/null
source "$state/env"
first_host=$(head -n 1 "$NETNS_HOSTFILE")
echo "$first_host:2" > "$tmp/one-host"

# run PLACEMENT HOSTS HOSTFILE UCX_TLS NOLOCAL: one record per size, tagged with the placement. MPICH passes messages
# between ranks of one host through its own shared memory whatever UCX_TLS says; MPIR_CVAR_NOLOCAL=1 makes it use
# the network (UCX) there too.
run() {
    local placement=$1 hosts=$2 hostfile=$3 tls=$4 nolocal=$5 mib record
    for mib in $sizes; do
        record=$tmp/$(printf '%s-%04d' "${placement// /_}" "$mib")
        UCX_TLS=$tls MPIR_CVAR_NOLOCAL=$nolocal mpiexec.mpich -n 2 -f "$hostfile" "$ADAN" bench allreduce --mib "$mib" --iterations "$iterations" --json "$record.raw" > /dev/null
        sed "s/^{/{\"placement\":\"$placement\",\"hosts\":$hosts,/" "$record.raw" > "$record.json"
    done
}
run "2 hosts, tcp" 2 "$NETNS_HOSTFILE" tcp 0
run "1 host, tcp" 1 "$tmp/one-host" tcp 1
run "1 host, shared memory" 1 "$tmp/one-host" all 0

mkdir -p "$(dirname "$out")"
bench_collect "$tmp" "$out"
echo "gradient synchronisation vs raw MPI_Allreduce, 2 ranks, across namespace hosts and on one:"
cat "$out"
