#!/usr/bin/env bash
# Accuracy held under reduced precision (issue 30 item 4): the MLP on Fashion-MNIST, 2 ranks, trained once per seed
# in each mode given, its test accuracy reported as mean, sample standard deviation and range over the seeds.
#
#   scripts/precision-accuracy.sh [MODE ...]      (default: fp32 bf16-mixed)
#
# A MODE is fp32 or bf16-mixed (the precision key), or KEY=VALUE[,KEY=VALUE...] passed as --set overrides
# (e.g. optimizer_state=8bit where the build has that key). SEEDS (default "1 2 3"), EPOCHS (default 3) and OUT
# (default docs/results/precision-accuracy) may be set in the environment. Writes OUT/runs.jsonl (one record per run)
# and OUT/summary.json; about 2 minutes per run on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(bench_adan)
modes=("$@")
[[ ${#modes[@]} -gt 0 ]] || modes=(fp32 bf16-mixed)
seeds=(${SEEDS:-1 2 3})
epochs=${EPOCHS:-3}
out=${OUT:-docs/results/precision-accuracy}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$out/runs.jsonl"

overrides() {
    case $1 in
        fp32 | bf16-mixed) echo "--set precision=$1" ;;
        *=*) local kv; for kv in ${1//,/ }; do printf -- '--set %s ' "$kv"; done ;;
        *) echo "precision-accuracy: unknown mode '$1' (fp32, bf16-mixed or KEY=VALUE[,KEY=VALUE])" >&2; exit 2 ;;
    esac
}

# Seeds outermost: each seed's modes run back to back, so a drift of the machine's speed touches every mode alike.
for seed in "${seeds[@]}"; do
    for mode in "${modes[@]}"; do
        run="$tmp/$mode-$seed"
        # shellcheck disable=SC2046
        "$ADAN" launch -n 2 -- train --set model=mlp --set epochs="$epochs" --set micro_batch=64 --set warmup_steps=100 \
            --set checkpoint_every=0 --set eval_every=0 --set resume=none --set seed="$seed" --set run_dir="$run" \
            $(overrides "$mode") > "$run.log" 2>&1 \
            || { echo "precision-accuracy: $mode seed $seed failed:"; tail -20 "$run.log"; exit 1; }
        printf '{"mode": "%s", "seed": %s, "test_accuracy": %s, "test_loss": %s, "final_loss": %s, "samples_per_second": %s, "wall_seconds": %s}\n' \
            "$mode" "$seed" "$(bench_json_value "$run/summary.json" test_accuracy)" "$(bench_json_value "$run/summary.json" test_loss)" \
            "$(bench_json_value "$run/summary.json" final_loss)" "$(bench_json_value "$run/summary.json" samples_per_second)" \
            "$(bench_json_value "$run/summary.json" wall_seconds)" >> "$out/runs.jsonl"
        echo "precision-accuracy: $mode seed $seed: $(tail -1 "$out/runs.jsonl")"
    done
done

# Per mode: mean, sample standard deviation, min and max of the test accuracy over the seeds; held when the mode's mean
# lies within the first mode's seed-to-seed spread (its min..max, or as far from its mean as that range is wide).
awk -v epochs="$epochs" '
    {
        mode = $0; sub(/.*"mode": "/, "", mode); sub(/".*/, "", mode)
        acc = $0; sub(/.*"test_accuracy": /, "", acc); sub(/[,}].*/, "", acc)
        if (!(mode in n)) order[++modes] = mode
        n[mode]++; sum[mode] += acc; sq[mode] += acc * acc
        if (n[mode] == 1 || acc < lo[mode]) lo[mode] = acc
        if (n[mode] == 1 || acc > hi[mode]) hi[mode] = acc
    }
    END {
        base = order[1]; bmean = sum[base] / n[base]
        printf "{\n  \"model\": \"mlp\", \"dataset\": \"fashion-mnist\", \"ranks\": 2, \"epochs\": %d,\n  \"modes\": [\n", epochs
        for (k = 1; k <= modes; k++) {
            m = order[k]; mean = sum[m] / n[m]
            sd = n[m] > 1 ? sqrt((sq[m] - n[m] * mean * mean) / (n[m] - 1)) : 0
            held = (lo[base] <= mean && mean <= hi[base]) || (mean - bmean <= hi[base] - lo[base] && bmean - mean <= hi[base] - lo[base])
            printf "    {\"mode\": \"%s\", \"seeds\": %d, \"mean\": %.6f, \"stdev\": %.6f, \"min\": %.6f, \"max\": %.6f, \"within_spread_of_%s\": %s}%s\n", \
                m, n[m], mean, sd, lo[m], hi[m], base, held ? "true" : "false", k < modes ? "," : ""
            line[k] = sprintf("%-30s %5d  %.4f   %.4f   %.4f   %.4f   %s", m, n[m], mean, sd, lo[m], hi[m], held ? "yes" : "NO")
        }
        printf "  ]\n}\n"
        print "mode                           seeds  mean acc stdev    min      max      within " base "'"'"'s spread" > "/dev/stderr"
        for (k = 1; k <= modes; k++) print line[k] > "/dev/stderr"
    }' "$out/runs.jsonl" > "$out/summary.json" 2> "$tmp/table"
cat "$tmp/table"
echo "precision-accuracy: wrote $out/summary.json"
