#!/usr/bin/env bash
# Benchmarks; each writes JSON under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
echo "bench: no benchmarks yet"
