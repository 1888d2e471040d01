#!/usr/bin/env bash
# Data-parallel scaling: samples/s at 1 and 2 ranks (1 torch thread per rank) of the MLP 784→8192→10 and the
# demo ResNet, each under ZeRO-1 and ZeRO-2, with the scaling efficiency (W=2 / (2 × W=1)) and the ZeRO-2/ZeRO-1
# ratio. Every configuration runs REPEATS times, interleaved (round-robin over the configurations), so machine
# noise falls on all of them alike; each reports the median and range of samples/s and the medians of the step-time
# shares from the runs' summary.json, and the largest peak_gradient_bytes (max over ranks, steps 2-6) of its runs. Writes bench/results/scaling.json. Needs no jq.
#
# Environment:
#   REPEATS      runs per configuration (default 3)
#   STEPS_SCALE  multiplies every max_steps, for a quick check (default 1; e.g. 0.25)
#   MLP_STEPS    max_steps of the MLP at scale 1 (default 40: ~10-25 s of training per run on 2 busy cores)
#   RESNET_STEPS max_steps of the ResNet at scale 1 (default 30: likewise)
#   W1_STAGES    ZeRO stages run at W=1 (default "1 2"; at one rank they do the same work, so their ratio shows
#                the noise floor; "1" saves a quarter of the time and divides both stages' W=2 by the ZeRO-1 run)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ADAN=$(bench_adan)
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/records"

REPEATS=${REPEATS:-3}
STEPS_SCALE=${STEPS_SCALE:-1}
MLP_STEPS=${MLP_STEPS:-40}
RESNET_STEPS=${RESNET_STEPS:-30}
W1_STAGES=${W1_STAGES:-1 2}
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || { echo "bench-scaling: REPEATS must be a positive integer, got '$REPEATS'" >&2; exit 2; }
[[ $STEPS_SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "bench-scaling: STEPS_SCALE must be a positive number, got '$STEPS_SCALE'" >&2; exit 2; }

# Steps at the current scale, at least 5 so that the first (warm-up) step does not dominate.
scaled() { awk -v s="$1" -v k="$STEPS_SCALE" 'BEGIN { n = int(s * k + 0.5); print (n < 5 ? 5 : n) }'; }
mlp_steps=$(scaled "$MLP_STEPS")
resnet_steps=$(scaled "$RESNET_STEPS")

common=(--set threads=1 --set checkpoint_every=0 --set eval_every=0 --set resume=none --set test_subset=500)
model_args() {
    case $1 in
        mlp) echo "--set model=mlp --set mlp_hidden=8192 --set micro_batch=64 --set max_steps=$mlp_steps" ;;
        resnet) echo "--config deploy/configs/fashion-resnet.json --set max_steps=$resnet_steps" ;;
    esac
}

# The configurations, "model ranks stage", in the order one round runs them.
configs=()
for model in mlp resnet; do
    for stage in $W1_STAGES; do configs+=("$model 1 $stage"); done
    for stage in 1 2; do configs+=("$model 2 $stage"); done
done
n=${#configs[@]}

# A number field of a JSON object (one key per line or all on one line); empty when absent, null or not a number.
field() { grep -o "\"$1\": *-\?[0-9][0-9.eE+-]*" <<<"$2" | head -1 | sed 's/.*: *//' || true; }

# Round r runs every configuration once, starting one further along each round, so no configuration is always first.
echo "bench-scaling: $n configurations x $REPEATS repeat(s), interleaved; max_steps mlp=$mlp_steps resnet=$resnet_steps"
for ((r = 1; r <= REPEATS; r++)); do
    for ((i = 0; i < n; i++)); do
        read -r model ranks stage <<<"${configs[(i + r - 1) % n]}"
        name="$model-w$ranks-zero$stage"
        run="$tmp/$name-r$r"
        # shellcheck disable=SC2046 # model_args is a list of words
        if ! "$ADAN" launch -n "$ranks" -- train $(model_args "$model") "${common[@]}" --set zero_stage="$stage" \
            --set run_dir="$run" > "$run.log" 2>&1 || [[ ! -s $run/summary.json ]]; then
            cp "$run.log" "bench/results/scaling-$name-r$r.log"
            echo "bench-scaling: $model at W=$ranks, ZeRO-$stage (repeat $r) failed; the end of its log (all of it in bench/results/scaling-$name-r$r.log):" >&2
            tail -20 "$run.log" >&2
            exit 1
        fi
        summary=$(tr -d '\n' < "$run/summary.json" | tr -s ' ')
        printf '{"model":"%s","ranks":%s,"zero_stage":%s,"repeat":%s,"summary":%s}\n' \
            "$model" "$ranks" "$stage" "$r" "$summary" > "$tmp/records/$name-r$r.json"
        # One line per run for the aggregation below: name then the numbers ('-' when absent).
        values=()
        for key in samples_per_second forward_backward_share communication_share optimizer_share communication_busy_seconds \
            peak_gradient_bytes; do
            v=$(field "$key" "$summary"); values+=("${v:--}")
        done
        echo "$name ${values[*]}" >> "$tmp/runs.txt"
        printf '  [%d/%d] %-18s %8.1f samples/s\n' "$r" "$REPEATS" "$name" "${values[0]}"
    done
done

# Column c of the runs of configuration $1 reduced by $2 (median | min | max), printed with format $4 (default %.6g);
# "null" when no run has it.
agg() {
    awk -v name="$1" -v c="$3" '$1 == name && $c != "-" { print $c }' "$tmp/runs.txt" | sort -g |
        awk -v op="$2" -v fmt="${4:-%.6g}" '{ v[NR] = $1 }
            END {
                if (NR == 0) { print "null"; exit }
                if (op == "min") x = v[1]; else if (op == "max") x = v[NR]
                else x = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                printf fmt "\n", x
            }'
}
# $1 / ($3 × $2) to 4 decimals; null when either is missing.
ratio() { awk -v a="$1" -v b="$2" -v k="${3:-1}" 'BEGIN { if (a == "null" || b == "null" || b == 0) print "null"; else printf "%.4f\n", a / (k * b) }'; }

declare -A median eff zr
conf_json=()
for c in "${configs[@]}"; do
    read -r model ranks stage <<<"$c"
    name="$model-w$ranks-zero$stage"
    median[$name]=$(agg "$name" median 2)
    all=$(awk -v name="$name" '$1 == name { print $2 }' "$tmp/runs.txt" | paste -sd, -)
    conf_json+=("$(printf '{"model":"%s","ranks":%s,"zero_stage":%s,"max_steps":%s,"samples_per_second":{"median":%s,"min":%s,"max":%s,"runs":[%s]},"forward_backward_share":%s,"communication_share":%s,"optimizer_share":%s,"communication_busy_seconds":%s,"peak_gradient_bytes":%s}' \
        "$model" "$ranks" "$stage" "$([[ $model == mlp ]] && echo "$mlp_steps" || echo "$resnet_steps")" \
        "${median[$name]}" "$(agg "$name" min 2)" "$(agg "$name" max 2)" "$all" \
        "$(agg "$name" median 3)" "$(agg "$name" median 4)" "$(agg "$name" median 5)" "$(agg "$name" median 6)" \
        "$(agg "$name" max 7 %d)")")
done

w1_stage_for() { if [[ " $W1_STAGES " == *" $1 "* ]]; then echo "$1"; else echo "${W1_STAGES%% *}"; fi; }
eff_json=() ratio_json=()
for model in mlp resnet; do
    for stage in 1 2; do
        s1=$(w1_stage_for "$stage")
        e=$(ratio "${median[$model-w2-zero$stage]}" "${median[$model-w1-zero$s1]}" 2)
        eff_json+=("$(printf '{"model":"%s","zero_stage":%s,"w1_zero_stage":%s,"efficiency":%s}' "$model" "$stage" "$s1" "$e")")
        eff[$model$stage]=$e
    done
    for ranks in 1 2; do
        [[ -n ${median[$model-w$ranks-zero1]:-} && -n ${median[$model-w$ranks-zero2]:-} ]] || continue
        q=$(ratio "${median[$model-w$ranks-zero2]}" "${median[$model-w$ranks-zero1]}")
        ratio_json+=("$(printf '{"model":"%s","ranks":%s,"ratio":%s}' "$model" "$ranks" "$q")")
        zr[$model$ranks]=$q
    done
done

bench_collect "$tmp/records" "$tmp/runs.json"
join() { local IFS=,; echo "$*"; }
{
    printf '{"bench":"scaling","threads_per_rank":1,"repeats":%s,"steps_scale":%s,"cores":%s,\n' "$REPEATS" "$STEPS_SCALE" "$(nproc)"
    printf ' "configurations":[\n  %s],\n' "$(printf '%s\n' "${conf_json[@]}" | paste -sd, - | sed 's/},{/},\n  {/g')"
    printf ' "scaling_efficiency":[%s],\n' "$(join "${eff_json[@]}")"
    printf ' "zero2_over_zero1":[%s],\n' "$(join "${ratio_json[@]}")"
    printf ' "runs":'
    cat "$tmp/runs.json"
    echo "}"
} > bench/results/scaling.json

# The human summary.
echo
printf '%-7s %2s %5s %10s %21s %6s %6s %6s %9s\n' model W ZeRO "samples/s" "(min..max)" fwd/bw comm opt comm_busy
for c in "${configs[@]}"; do
    read -r model ranks stage <<<"$c"
    name="$model-w$ranks-zero$stage"
    printf '%-7s %2s %5s %10.1f %21s %6.3f %6.3f %6.3f %9s\n' "$model" "$ranks" "$stage" "${median[$name]}" \
        "($(agg "$name" min 2 | xargs printf '%.1f')..$(agg "$name" max 2 | xargs printf '%.1f'))" \
        "$(agg "$name" median 3 | sed 's/null/nan/')" "$(agg "$name" median 4 | sed 's/null/nan/')" \
        "$(agg "$name" median 5 | sed 's/null/nan/')" "$(agg "$name" median 6 | sed 's/null/-/')"
done
for model in mlp resnet; do
    echo "$model: scaling efficiency ZeRO-1 ${eff[${model}1]}, ZeRO-2 ${eff[${model}2]}; ZeRO-2/ZeRO-1 at W=1 ${zr[${model}1]:-n/a}, W=2 ${zr[${model}2]:-n/a}"
done
echo "bench-scaling: wrote bench/results/scaling.json (medians of $REPEATS interleaved repeat(s))"
