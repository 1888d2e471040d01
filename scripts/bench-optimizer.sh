#!/usr/bin/env bash
# Optimizer step benchmark: N = 1M, 16M, 64M x tensors 1, 100 x kernels reference, fused, adamw
# x threads 1, 2, each configuration in its own process (`adan bench optimizer`). Writes the
# records to bench/results/optimizer.json and prints each bandwidth as a fraction of the STREAM
# triad measured in the same process. Fewer steps at larger N keep the run within ~5 minutes.
# Then optimizer_state modes (the sharded engine's fused Adan, one rank): fp32, bf16 and 8bit at 16M and 64M,
# interleaved (fp32, bf16, 8bit, fp32, ...) for REPEATS rounds (default 3), each in its own process; writes
# bench/results/optimizer-state.json and prints state bytes per parameter and the median update time with its range
# over the rounds, against fp32 of the same run. PART=kernels or PART=state runs one half only.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/bench-lib.sh
ADAN=$(bench_adan)

out=bench/results/optimizer.json
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

part=${PART:-all}
declare -A steps=([1048576]=20 [16777216]=5 [67108864]=3)
run=0
[[ $part == state ]] || for n in 1048576 16777216 67108864; do
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

if [[ $part != state ]]; then
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
fi

[[ $part != kernels ]] || exit 0
state_out=bench/results/optimizer-state.json
state_tmp=$tmp/state
mkdir -p "$state_tmp"
repeats=${REPEATS:-3}
run=0
for n in 16777216 67108864; do
    for ((r = 1; r <= repeats; r++)); do
        for mode in fp32 bf16 8bit; do
            run=$((run + 1))
            "$ADAN" bench optimizer --kernel sharded --state "$mode" --params "$n" --threads 2 --steps "${steps[$n]}" \
                --json "$state_tmp/$(printf '%03d' "$run").json" > /dev/null
        done
    done
done
bench_collect "$state_tmp" "$state_out"

awk '
function field(line, name,    m) {
    if (match(line, "\"" name "\":(\"[^\"]*\"|[-0-9.eE+]+)")) {
        m = substr(line, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        gsub(/"/, "", m)
        return m
    }
    return ""
}
function median(list,    a, k, t, i, j) {
    k = split(list, a, " ")
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[k]
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
/"state"/ {
    key = field($0, "n_params") " " field($0, "state")
    times[key] = times[key] " " field($0, "ms_per_step_median")
    bytes[key] = field($0, "state_bytes_per_param")
    if (!(field($0, "n_params") in seen)) { seen[field($0, "n_params")] = 1; sizes[++ns] = field($0, "n_params") }
}
END {
    printf "%10s %6s %12s %14s %22s %9s\n", "params", "state", "bytes/param", "vs fp32 bytes", "update ms (min-max)", "vs fp32"
    split("fp32 bf16 8bit", modes, " ")
    for (s = 1; s <= ns; s++) {
        base = median(times[sizes[s] " fp32"])
        for (m = 1; m <= 3; m++) {
            key = sizes[s] " " modes[m]
            med = median(times[key])
            printf "%10s %6s %12.3f %13.2fx %9.1f (%5.1f-%5.1f) %8.2fx\n", sizes[s], modes[m], bytes[key],
                bytes[key] / bytes[sizes[s] " fp32"], med, lo, hi, med / base
        }
    }
}' "$state_out"
echo "bench-optimizer: wrote $state_out"
