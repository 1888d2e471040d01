#!/usr/bin/env bash
# The main job: for now a 2-rank all-reduce of a TorchSharp tensor over MPICH.
set -euo pipefail
cd "$(dirname "$0")/.."
exec mpiexec.mpich -n 2 bin/adan mpi-check
