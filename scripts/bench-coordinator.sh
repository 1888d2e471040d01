#!/usr/bin/env bash
# Coordinator load: RANKS (200) simulated ranks heartbeat every 100 ms for SECONDS (10) against an in-process
# coordinator; heartbeat p50/p99/max latency and throughput go to bench/results/coordinator.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
bench=bench/Coordinator.Bench/bin/Release/net10.0/Coordinator.Bench
if [[ ! -x $bench ]]; then
    echo "bench: $bench not built; run 'make build' first" >&2
    exit 1
fi
"$bench" --ranks "${RANKS:-200}" --seconds "${SECONDS_LOAD:-10}" --json bench/results/coordinator.json
echo "bench-coordinator: wrote bench/results/coordinator.json"
