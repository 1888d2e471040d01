#!/usr/bin/env bash
# Checks the library as its NuGet package users get it: packs it (make packages, from the last build), copies
# tests/PackageConsumer to a directory outside the repository (nothing of the repository's build reaches it: the
# GLIBCXX fix must come from the package), builds it there against artifacts/packages with the libtorch it picks
# (libtorch-cpu-linux-x64), checks the package's declared dependencies (TorchSharp, MPI.NET and Adan.Sharded.Common,
# never a libtorch or a TorchSharp-cpu/-cuda bundle, which are the application's choice) and runs it: one Adan step
# checked against the closed form. Then the same for samples/OwnModel, an application with its own model and data on
# the trainer package (Adan.Sharded.Training): built outside the repository against the packages, it trains, saves
# and resumes from its checkpoint through the package alone, and trains as 2 ranks under adan launch --program.
# Run after `make build`.
# With a results directory, also writes DIR/package-check.result ("passed" or "failed"), which
# scripts/test-summary.sh counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-}
dotnet=${DOTNET:-dotnet}
config=${CONFIG:-Release}
adan=$(pwd)/src/Worker/bin/$config/net10.0/adan
consumer=tests/PackageConsumer
outside=$(mktemp -d "${TMPDIR:-/tmp}/adan-package-check.XXXXXX")
trap 'rm -rf "$outside"' EXIT

check() {
    make --no-print-directory packages DOTNET="$dotnet" CONFIG="$config" || return 1
    local packed version
    packed=$(cd artifacts/packages && pwd)
    version=$(sed -n 's:.*<AdanVersion>\(.*\)</AdanVersion>.*:\1:p' build/Version.props)
    cp "$consumer"/*.cs "$consumer"/*.csproj "$consumer"/Directory.*.props "$consumer"/Directory.*.targets "$outside"/ || return 1
    printf '%s\n' '<?xml version="1.0" encoding="utf-8"?>' '<configuration>' '  <packageSources>' \
        "    <add key=\"adan-local\" value=\"$packed\" />" '  </packageSources>' '</configuration>' > "$outside/nuget.config"
    "$dotnet" build "$outside" -c "$config" -nologo -v quiet -clp:NoSummary -p:AdanVersion="$version" || return 1
    # Each Adan package must have come from the folder just packed, not from a feed with a package of the same name.
    local id metadata
    for id in adan.sharded adan.sharded.common; do
        metadata=$(ls "$outside"/obj/packages/$id/*/.nupkg.metadata 2>/dev/null | head -1)
        if [ -z "$metadata" ] || ! grep -q "\"source\": \"$packed" "$metadata"; then
            echo "package-check: $id was not restored from $packed" >&2
            return 1
        fi
    done
    local nuspec dependencies
    nuspec=$(ls "$outside"/obj/packages/adan.sharded/*/adan.sharded.nuspec 2>/dev/null | head -1)
    [ -n "$nuspec" ] || { echo "package-check: no adan.sharded.nuspec in the restored package" >&2; return 1; }
    dependencies=$(sed -n 's/.*<dependency id="\([^"]*\)".*/\1/p' "$nuspec" | sort | tr '\n' ' ')
    if [ "$dependencies" != "Adan.Sharded.Common MPI.NET TorchSharp " ]; then
        echo "package-check: Adan.Sharded declares '$dependencies'; expected 'Adan.Sharded.Common MPI.NET TorchSharp' (no libtorch: the application picks it)" >&2
        return 1
    fi
    echo "package-check: Adan.Sharded $version depends on ${dependencies}(no libtorch); built outside the repository"
    "$dotnet" run --project "$outside" -c "$config" --no-build -p:AdanVersion="$version" || return 1
    sample "$packed" "$version"
}

# A summary.json value: the number or string after "key": (first occurrence).
summary_value() {
    sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",]*\).*/\1/p" "$1/summary.json" | head -1
}

# samples/OwnModel from the packages: trains 30 steps (a checkpoint at 20 and one at the end), resumes to 50 from the
# last one, then trains as 2 ranks under adan launch --program.
sample() {
    local packed=$1 version=$2 app="$outside/own-model" nuspec dependencies exe steps resumed ranks
    mkdir -p "$app" || return 1
    cp samples/OwnModel/*.cs samples/OwnModel/*.csproj samples/OwnModel/*.json samples/OwnModel/Directory.*.props \
        samples/OwnModel/Directory.*.targets "$app"/ || return 1
    printf '%s\n' '<?xml version="1.0" encoding="utf-8"?>' '<configuration>' '  <packageSources>' \
        "    <add key=\"adan-local\" value=\"$packed\" />" '  </packageSources>' '</configuration>' > "$app/nuget.config"
    "$dotnet" build "$app" -c "$config" -nologo -v quiet -clp:NoSummary -p:AdanVersion="$version" || return 1
    nuspec=$(ls "$app"/obj/packages/adan.sharded.training/*/adan.sharded.training.nuspec 2>/dev/null | head -1)
    [ -n "$nuspec" ] && grep -q "\"source\": \"$packed" "$app"/obj/packages/adan.sharded.training/*/.nupkg.metadata || {
        echo "package-check: Adan.Sharded.Training was not restored from $packed" >&2
        return 1
    }
    dependencies=$(sed -n 's/.*<dependency id="\([^"]*\)".*/\1/p' "$nuspec" | sort | tr '\n' ' ')
    if grep -qiE 'libtorch|TorchSharp-c' <<<"$dependencies" || ! grep -q 'Adan.Sharded ' <<<"$dependencies"; then
        echo "package-check: Adan.Sharded.Training declares '$dependencies'; expected Adan.Sharded and no libtorch" >&2
        return 1
    fi
    echo "package-check: Adan.Sharded.Training $version depends on $dependencies"
    exe="$app/bin/$config/net10.0/own-model"
    (cd "$app" && "$exe" --config own-model.json --set max_steps=30 --set run_dir="$app/run" --set threads=1) || return 1
    steps=$(summary_value "$app/run" steps)
    [ "$steps" = 30 ] || { echo "package-check: the sample stopped at step '$steps', not 30" >&2; return 1; }
    (cd "$app" && "$exe" --config own-model.json --set max_steps=50 --set run_dir="$app/run" --set threads=1 --set resume=latest) || return 1
    steps=$(summary_value "$app/run" steps)
    resumed=$(summary_value "$app/run" resumed_from)
    if [ "$steps" != 50 ] || [[ "$resumed" != *step-* ]]; then
        echo "package-check: the resumed sample ended at step '$steps' resumed from '$resumed'; expected 50 from a checkpoint" >&2
        return 1
    fi
    echo "package-check: the sample resumed from $resumed and trained to step 50"
    (cd "$app" && "$adan" launch -n 2 --program "$exe" -- --config own-model.json --set max_steps=20 --set run_dir="$app/run2" \
        --set threads=1) || return 1
    ranks=$(summary_value "$app/run2" world_size)
    [ "$ranks" = 2 ] || { echo "package-check: adan launch --program ran the sample on '$ranks' rank(s), not 2" >&2; return 1; }
    echo "package-check: adan launch -n 2 --program trained the sample on 2 ranks"
}

if check; then
    outcome=passed
else
    outcome=failed
    echo "package-check: FAILED" >&2
fi
if [ -n "$results" ]; then
    mkdir -p "$results"
    echo "$outcome" > "$results/package-check.result"
fi
[ "$outcome" = passed ]
