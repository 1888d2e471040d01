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
