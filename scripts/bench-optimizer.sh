#!/usr/bin/env bash
# Optimizer step benchmark: N = 1M, 16M, 64M x tensors 1, 100 x kernels reference, fused, adamw
# x threads 1, 2, each configuration in its own process (`adan bench optimizer`). Writes the
# records to bench/results/optimizer.json and prints each bandwidth as a fraction of the STREAM
# triad measured in the same process. Fewer steps at larger N keep the run within ~5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/bench-lib.sh
ADAN=$(bench_adan)

out=bench/results/optimizer.json
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A steps=([1048576]=20 [16777216]=5 [67108864]=3)
run=0
for n in 1048576 16777216 67108864; do
    for tensors in 1 100; do
        for kernel in reference fused adamw; do
            for threads in 1 2; do
                run=$((run + 1))
                "$ADAN" bench optimizer --params "$n" --tensors "$tensors" --kernel "$kernel" \
                    --threads "$threads" --steps "${steps[$n]}" --json "$tmp/$(printf '%03d' "$run").json" > /dev/null
            done
        done
    done
done

bench_collect "$tmp" "$out"

# Each record is one flat JSON object per line; pull fields out by name.
awk '
function field(line, name,    m) {
    if (match(line, "\"" name "\":(\"[^\"]*\"|[-0-9.eE+]+)")) {
        m = substr(line, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        gsub(/"/, "", m)
        return m
    }
    return ""
}
BEGIN {
    printf "%-10s %10s %8s %8s %12s %10s %10s %9s\n", "kernel", "params", "tensors", "threads", "ms/step", "GB/s", "triad", "of triad"
}
/"kernel"/ {
    printf "%-10s %10s %8s %8s %12.3f %10.2f %10.2f %8.0f%%\n", field($0, "kernel"), field($0, "n_params"), field($0, "n_tensors"),
        field($0, "threads"), field($0, "ms_per_step_median"), field($0, "effective_gbps"), field($0, "triad_gbps"),
        100 * field($0, "effective_gbps") / field($0, "triad_gbps")
}' "$out"
echo "bench-optimizer: wrote $out"
