#!/usr/bin/env bash
# Checks the library as its NuGet package users get it: packs it (make packages, from the last build), then builds
# and runs tests/PackageConsumer, which references Adan.Sharded by PackageReference from artifacts/packages and checks
# one Adan step against the closed form. Run after `make build`.
# With a results directory, also writes DIR/package-check.result ("passed" or "failed"), which
# scripts/test-summary.sh counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-}
dotnet=${DOTNET:-dotnet}
config=${CONFIG:-Release}
consumer=tests/PackageConsumer

check() {
    make --no-print-directory packages DOTNET="$dotnet" CONFIG="$config" || return 1
    # A fresh restore, so that the package just packed is extracted rather than one of the same version from before.
    rm -rf "$consumer/obj" "$consumer/bin"
    "$dotnet" build "$consumer" -c "$config" -nologo -v quiet -clp:NoSummary || return 1
    # Each Adan package must have come from the folder just packed, not from a feed with a package of the same name.
    local packed
    packed=$(cd artifacts/packages && pwd)
    for id in adan.sharded adan.sharded.common; do
        local metadata
        metadata=$(ls "$consumer"/obj/packages/$id/*/.nupkg.metadata 2>/dev/null | head -1)
        if [ -z "$metadata" ] || ! grep -q "\"source\": \"$packed" "$metadata"; then
            echo "package-check: $id was not restored from $packed" >&2
            return 1
        fi
    done
    "$dotnet" run --project "$consumer" -c "$config" --no-build
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
