#!/usr/bin/env bash
# The main job: 2 ranks train the small ResNet on Fashion-MNIST with ZeRO-sharded Adan through
# `adan launch` (coordinator + mpiexec.mpich), checkpointing as they go. Ends with the test
# accuracy, the checkpoint's path and `summary: <path>`.
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir="runs/demo-$(date +%Y%m%d-%H%M%S)"
exec bin/adan launch -n 2 -- train --config deploy/configs/fashion-resnet.json --set run_dir="$run_dir" "$@"
