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
        python3 - "$run/summary.json" "$mode" "$seed" >> "$out/runs.jsonl" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"mode": sys.argv[2], "seed": int(sys.argv[3]), "test_accuracy": s["test_accuracy"], "test_loss": s["test_loss"],
                  "final_loss": s["final_loss"], "samples_per_second": s["samples_per_second"], "wall_seconds": s["wall_seconds"],
                  "precision": s.get("precision")}))
PY
        echo "precision-accuracy: $mode seed $seed: $(tail -1 "$out/runs.jsonl")"
    done
done

python3 - "$out/runs.jsonl" "$out/summary.json" "$epochs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
modes = list(dict.fromkeys(r["mode"] for r in runs))
summary = {"model": "mlp", "dataset": "fashion-mnist", "ranks": 2, "epochs": int(sys.argv[3]), "modes": []}
for m in modes:
    acc = [r["test_accuracy"] for r in runs if r["mode"] == m]
    summary["modes"].append({"mode": m, "seeds": len(acc), "mean": statistics.mean(acc),
                             "stdev": statistics.stdev(acc) if len(acc) > 1 else 0.0, "min": min(acc), "max": max(acc)})
base = summary["modes"][0]
for s in summary["modes"]:
    # Held: the mode's mean lies within the first mode's seed-to-seed spread (its min..max over seeds).
    s["within_spread_of_" + base["mode"]] = base["min"] <= s["mean"] <= base["max"] or abs(s["mean"] - base["mean"]) <= base["max"] - base["min"]
json.dump(summary, open(sys.argv[2], "w"), indent=2)
print("mode            seeds  mean acc   stdev    min      max")
for s in summary["modes"]:
    print(f"{s['mode']:<15} {s['seeds']:>5}  {s['mean']:.4f}   {s['stdev']:.4f}   {s['min']:.4f}   {s['max']:.4f}")
PY
echo "precision-accuracy: wrote $out/summary.json"
