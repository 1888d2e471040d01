#!/usr/bin/env bash
# Checks the library as its NuGet package users get it: packs it (make packages, from the last build), copies
# tests/PackageConsumer to a directory outside the repository (nothing of the repository's build reaches it: the
# GLIBCXX fix must come from the package), builds it there against artifacts/packages with the libtorch it picks
# (libtorch-cpu-linux-x64), checks the package's declared dependencies (TorchSharp, MPI.NET and Adan.Sharded.Common,
# never a libtorch or a TorchSharp-cpu/-cuda bundle, which are the application's choice) and runs it: one Adan step
# checked against the closed form. Run after `make build`.
# With a results directory, also writes DIR/package-check.result ("passed" or "failed"), which
# scripts/test-summary.sh counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-}
dotnet=${DOTNET:-dotnet}
config=${CONFIG:-Release}
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
    "$dotnet" run --project "$outside" -c "$config" --no-build -p:AdanVersion="$version"
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
