#!/usr/bin/env bash
# Data-plane benchmarks on this host: gradient synchronisation vs raw MPI_Allreduce (2 ranks, 16 and
# 256 MiB) and the ZeRO step (W = 1, 2, 4 at 16M parameters, stages 0-2), split into reduce-scatter,
# update and all-gather, with gradients copied in; then at W = 2 the peak gradient memory per stage with gradients
# written by forward and backward of a 16-layer MLP with overlapped reduction (peak_gradient_bytes_per_rank: ZeRO-1
# holds the whole buffer, ZeRO-2 about its shard + a layer + the buckets in flight). Writes bench/results/allreduce.json
# and bench/results/zero.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(bench_adan)
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/allreduce" "$tmp/zero"
for mib in 16 256; do
    mpiexec.mpich -n 2 "$ADAN" bench allreduce --mib "$mib" --json "$tmp/allreduce/$(printf '%04d' "$mib").json" > /dev/null
done
bench_collect "$tmp/allreduce" bench/results/allreduce.json
echo "gradient synchronisation vs raw MPI_Allreduce (2 ranks):"
cat bench/results/allreduce.json

for w in 1 2 4; do
    for stage in 0 1 2; do
        mpiexec.mpich -n "$w" "$ADAN" bench zero --params 16777216 --stage "$stage" --steps 5 --json "$tmp/zero/$w-$stage.json" > /dev/null
    done
done
for stage in 0 1 2; do
    mpiexec.mpich -n 2 "$ADAN" bench zero --params 16777216 --stage "$stage" --steps 5 --layers 16 \
        --json "$tmp/zero/2-$stage-backward.json" > /dev/null
done
bench_collect "$tmp/zero" bench/results/zero.json
echo "ZeRO step at 16M parameters:"
cat bench/results/zero.json
