#!/usr/bin/env bash
# What measuring the gradient noise scale costs a training step (issue 25's budget: under 1 % of the step on the
# reference MLP 784-8192-10, 64 samples per rank, W = 2, ZeRO-1): `adan bench noise` at W = 2 for ZeRO 0, 1 and 2,
# whole steps with measurement on and off in interleaved blocks (overhead median and range) and the extra local
# Σ g² pass timed on its own as a share of the step (at ZeRO-0 a whole extra pass over the gradients, at 1 and 2 the
# rank's shard only). Writes bench/results/noise.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(bench_adan)
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for stage in 0 1 2; do
    mpiexec.mpich -n 2 "$ADAN" bench noise --stage "$stage" --json "$tmp/$stage.json" > /dev/null
done
bench_collect "$tmp" bench/results/noise.json
echo "gradient noise scale measurement on the reference MLP (2 ranks):"
cat bench/results/noise.json
