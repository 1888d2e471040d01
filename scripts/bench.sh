#!/usr/bin/env bash
# Every benchmark; each writes JSON under bench/results/ and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
for script in bench-optimizer bench-comm bench-noise bench-multihost bench-checkpoint bench-train bench-precision bench-scaling bench-coordinator; do
    if [[ -x scripts/$script.sh ]]; then
        echo "== $script"
        bash "scripts/$script.sh"
    fi
done
