#!/usr/bin/env bash
# Mixed precision against fp32 in the same run (issue 30 item 3): samples/s of the 2-rank MLP and ResNet under
# precision=fp32, bf16-mixed (reduce_dtype fp32) and bf16-mixed with reduce_dtype=bf16, repeats interleaved so that a
# drift of the machine touches every mode alike, reported as median and range; and the bytes each step all-gathers and
# reduces, from each run's summary.json, with the CPU's bf16 flags (AVX512-BF16, AMX-BF16), which decide whether bf16
# compute is faster on this CPU at all. REPEATS (default 3) runs per mode. Writes bench/results/precision.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(bench_adan)
repeats=${REPEATS:-3}
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/records"

declare -A modes=(
    [fp32]="--set precision=fp32"
    [bf16-mixed]="--set precision=bf16-mixed"
    [bf16-mixed-reduce-bf16]="--set precision=bf16-mixed --set reduce_dtype=bf16"
)
for repeat in $(seq 1 "$repeats"); do
    for model in mlp resnet; do
        if [[ $model == resnet ]]; then
            config=(--config deploy/configs/fashion-resnet.json --set max_steps=30)
        else
            config=(--set model=mlp --set micro_batch=64 --set max_steps=150)
        fi
        for mode in fp32 bf16-mixed bf16-mixed-reduce-bf16; do
            run="$tmp/$model-$mode-$repeat"
            # shellcheck disable=SC2086
            "$ADAN" launch -n 2 -- train "${config[@]}" ${modes[$mode]} --set run_dir="$run" --set resume=none \
                --set checkpoint_every=0 --set eval_every=0 --set test_subset=500 > "$run.log" 2>&1 \
                || { echo "bench-precision: $model $mode failed:"; tail -20 "$run.log"; exit 1; }
            summary=$(tr -d '\n ' < "$run/summary.json")
            printf '{"model":"%s","mode":"%s","repeat":%s,"summary":%s}\n' "$model" "$mode" "$repeat" "$summary" > "$tmp/records/$model-$mode-$repeat.json"
            echo "$model $mode #$repeat: $(grep -o '"samples_per_second":[0-9.]*' <<<"$summary")"
        done
    done
done
bench_collect "$tmp/records" "$tmp/runs.json"
# One row per (model, mode): samples/s median and range over the repeats, the speed against fp32's median, the bytes
# each step moved and the CPU's bf16 flags, all read from the runs' summary.json records.
rows=()
table=()
for model in mlp resnet; do
    base=
    for mode in fp32 bf16-mixed bf16-mixed-reduce-bf16; do
        read -r median low high < <(for f in "$tmp/records/$model-$mode-"*.json; do bench_json_value "$f" samples_per_second; done | bench_median_range)
        first=$(ls "$tmp/records/$model-$mode-"*.json | head -1)
        gather=$(bench_json_value "$first" all_gather_bytes_per_step)
        reduce=$(bench_json_value "$first" reduce_bytes_per_step)
        avx=$(bench_json_value "$first" avx512_bf16)
        amx=$(bench_json_value "$first" amx_bf16)
        base=${base:-$median}
        ratio=$(awk -v m="$median" -v b="$base" 'BEGIN { printf "%.3f", m / b }')
        rows+=("$(printf '{"model": "%s", "mode": "%s", "ranks": 2, "repeats": %s, "samples_per_second_median": %s, "samples_per_second_min": %s, "samples_per_second_max": %s, "speed_vs_fp32": %s, "all_gather_bytes_per_step": %s, "reduce_scatter_bytes_per_step": %s, "cpu_bf16": {"avx512_bf16": %s, "amx_bf16": %s}}' \
            "$model" "$mode" "$repeats" "$median" "$low" "$high" "$ratio" "$gather" "$reduce" "$avx" "$amx")")
        table+=("$(printf '%-7s %-23s %-30s %7s %18s %22s' "$model" "$mode" "$(printf '%.0f [%.0f, %.0f]' "$median" "$low" "$high")" "$ratio" "$gather" "$reduce")")
    done
done
{
    echo '{"rows": ['
    for k in "${!rows[@]}"; do
        printf '  %s%s\n' "${rows[$k]}" "$([[ $k -lt $((${#rows[@]} - 1)) ]] && echo ,)"
    done
    echo '], "runs":'
    cat "$tmp/runs.json"
    echo '}'
} > bench/results/precision.json
echo "CPU bf16: avx512_bf16 $avx, amx_bf16 $amx"
printf '%-7s %-23s %-30s %7s %18s %22s\n' model mode "samples/s median [min, max]" "vs fp32" "all-gather B/step" "reduce-scatter B/step"
printf '%s\n' "${table[@]}"
echo "bench-precision: wrote bench/results/precision.json"
