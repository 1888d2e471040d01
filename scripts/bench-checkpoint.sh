#!/usr/bin/env bash
# Sharded checkpoint save/load throughput on 2 ranks next to a plain write + fsync of the same bytes.
# Writes bench/results/checkpoint.json. Override the state size with MIB=..., the scratch disk with DIR=...
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
source scripts/bench-lib.sh
adan=$(bench_adan)
mpiexec.mpich -n 2 "$adan" bench checkpoint --mib "${MIB:-256}" --repeats "${REPEATS:-9}" \
    ${DIR:+--dir "$DIR"} --json bench/results/checkpoint.json
