#!/usr/bin/env bash
# Training throughput: samples/s of the small ResNet (Fashion-MNIST) and the char GPT (fortunes) at 1
# and 2 ranks, with the share of step time in forward/backward, communication and the optimizer, as
# reported by each run's summary.json. Writes bench/results/train.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(bench_adan)
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/records"

for model in resnet gpt; do
    if [[ $model == resnet ]]; then
        config=(--config deploy/configs/fashion-resnet.json --set max_steps=40)
    else
        config=(--config deploy/configs/gpt-fortunes.json --set max_steps=20)
    fi
    for ranks in 1 2; do
        run="$tmp/$model-$ranks"
        "$ADAN" launch -n "$ranks" -- train "${config[@]}" --set run_dir="$run" --set resume=none \
            --set checkpoint_every=0 --set eval_every=0 --set test_subset=500 > "$run.log" 2>&1 \
            || { echo "bench-train: $model on $ranks rank(s) failed:"; tail -20 "$run.log"; exit 1; }
        summary=$(tr -d '\n ' < "$run/summary.json")
        printf '{"model":"%s","ranks":%s,"summary":%s}\n' "$model" "$ranks" "$summary" > "$tmp/records/$model-$ranks.json"
        echo "$model x $ranks rank(s): $(grep -o '"samples_per_second":[0-9.]*' <<<"$summary"), $(grep -o '"forward_backward_share":[0-9.]*' <<<"$summary"), $(grep -o '"communication_share":[0-9.]*' <<<"$summary"), $(grep -o '"optimizer_share":[0-9.]*' <<<"$summary")"
    done
done
bench_collect "$tmp/records" bench/results/train.json
echo "bench-train: wrote bench/results/train.json"
