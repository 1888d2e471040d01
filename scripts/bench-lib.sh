#!/usr/bin/env bash
# Shared helpers for the benchmark scripts (sourced).

# The adan executable: $ADAN, else bin/adan, else the Release build output.
bench_adan() {
    local adan=${ADAN:-bin/adan}
    [[ -x $adan ]] || adan=src/Worker/bin/Release/net10.0/adan
    if [[ ! -x $adan ]]; then
        echo "bench: adan not built; run 'make build' first" >&2
        exit 1
    fi
    echo "$adan"
}

# Joins the one-object-per-file JSON records in DIR (sorted by name) into a JSON array in OUT.
bench_collect() {
    local dir=$1 out=$2 first=1 f
    {
        echo "["
        for f in "$dir"/*.json; do
            [[ $first == 1 ]] || echo ","
            first=0
            printf '  %s' "$(tr -d '\n' < "$f")"
        done
        echo
        echo "]"
    } > "$out"
}

# The first JSON number or boolean under KEY in FILE (a summary.json; any nesting): prints it, or nothing when absent.
bench_json_value() {
    grep -o "\"$2\": *[-0-9.eE+a-z]*" "$1" | head -1 | sed 's/.*: *//'
}

# Median, min and max of numbers, one per line on stdin: prints "MEDIAN MIN MAX".
bench_median_range() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}
