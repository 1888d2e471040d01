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
command -v python3 >/dev/null || { echo "bench-precision: python3 is needed to summarise the runs" >&2; exit 1; }
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
python3 - "$tmp/runs.json" bench/results/precision.json <<'PY'
import json, statistics, sys
runs = json.load(open(sys.argv[1]))
rows = []
for model in ("mlp", "resnet"):
    base = None
    for mode in ("fp32", "bf16-mixed", "bf16-mixed-reduce-bf16"):
        rs = [r for r in runs if r["model"] == model and r["mode"] == mode]
        sps = [r["summary"]["samples_per_second"] for r in rs]
        p = rs[0]["summary"]["precision"]
        row = {"model": model, "mode": mode, "ranks": 2, "repeats": len(rs), "samples_per_second_median": statistics.median(sps),
               "samples_per_second_min": min(sps), "samples_per_second_max": max(sps),
               "all_gather_bytes_per_step": p["all_gather_bytes_per_step"], "reduce_scatter_bytes_per_step": p["reduce_bytes_per_step"],
               "cpu_bf16": p["cpu_bf16"]}
        base = base or row
        row["speed_vs_fp32"] = round(row["samples_per_second_median"] / base["samples_per_second_median"], 3)
        rows.append(row)
json.dump({"rows": rows, "runs": runs}, open(sys.argv[2], "w"), indent=1)
cpu = rows[0]["cpu_bf16"]
print(f"CPU bf16: avx512_bf16 {cpu['avx512_bf16']}, amx_bf16 {cpu['amx_bf16']}")
print(f"{'model':<7} {'mode':<23} {'samples/s median [min, max]':<30} {'vs fp32':>7} {'all-gather B/step':>18} {'reduce-scatter B/step':>22}")
for r in rows:
    sps = f"{r['samples_per_second_median']:.0f} [{r['samples_per_second_min']:.0f}, {r['samples_per_second_max']:.0f}]"
    print(f"{r['model']:<7} {r['mode']:<23} {sps:<30} {r['speed_vs_fp32']:>7} {r['all_gather_bytes_per_step']:>18} {r['reduce_scatter_bytes_per_step']:>22}")
PY
echo "bench-precision: wrote bench/results/precision.json"
