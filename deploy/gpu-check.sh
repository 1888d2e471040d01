#!/usr/bin/env bash
# One check of the GPU path on a machine with NVIDIA GPUs (prerequisites: deploy/README.md):
# builds with the CUDA TorchSharp package, runs the GPU tests and the NCCL binding's tests, trains the demo on every
# local GPU with `adan launch` (device=cuda, NCCL) saving checkpoints, resumes it from the last one for a few more
# steps, and prints a summary: samples/s, the optimizer's share of the step, the checkpoint pause, NCCL's bus bandwidth
# and a device-to-device copy as the memory bandwidth probe.
# Usage: deploy/gpu-check.sh [MAX_STEPS]   (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
steps="${1:-300}"
out="$(mktemp -d -t adan-gpu-check-XXXXXX)"
trap 'rm -rf "$out"' EXIT

fail() { echo "gpu-check: $*" >&2; exit 1; }

command -v nvidia-smi >/dev/null 2>&1 || fail "nvidia-smi not found: install the NVIDIA driver"
command -v dotnet >/dev/null 2>&1 || fail "dotnet not found: install the .NET 10 SDK"
command -v mpiexec.mpich >/dev/null 2>&1 || fail "mpiexec.mpich not found: apt-get install mpich"
gpus="$(nvidia-smi -L | grep -c '^GPU ' || true)"
[ "$gpus" -ge 1 ] || fail "nvidia-smi lists no GPU"
if [ -z "${ADAN_NCCL_LIBRARY:-}" ] && ! ldconfig -p | grep -q 'libnccl\.so\.2'; then
    fail "libnccl.so.2 not found: install NCCL >= 2.10 (libnccl2) or set ADAN_NCCL_LIBRARY to its path"
fi
echo "gpu-check: $gpus GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c | xargs)"

echo "gpu-check: building with -p:TorchBackend=cuda"
dotnet build Adan.sln -c Release -nologo -v minimal -p:TorchBackend=cuda
mkdir -p bin
ln -sfn ../src/Worker/bin/Release/net10.0/adan bin/adan

echo "gpu-check: GPU and NCCL tests (collectives, Adan, LAMB, AdamW and SGD on CUDA, checkpoints through pinned host staging)"
dotnet test tests/Adan.Sharded.Tests -c Release --no-build -nologo \
    --filter "FullyQualifiedName~Nccl|FullyQualifiedName~HostStagingTests|FullyQualifiedName~LambTensorStepTests|FullyQualifiedName~AdamWSgdTensorStepTests" \
    --logger "console;verbosity=normal" | tee "$out/tests.log"
if grep -q "\[SKIP\]" "$out/tests.log"; then
    fail "GPU tests were skipped: TorchSharp sees no CUDA device in this build (see the skip reason above)"
fi

echo "gpu-check: training the demo on $gpus GPU(s), saving checkpoints"
every=$(( steps / 3 > 0 ? steps / 3 : 1 ))
bin/adan launch -n "$gpus" --config deploy/configs/fashion-resnet.json \
    --set device=cuda --set collective=nccl --set "max_steps=$steps" --set "checkpoint_every=$every" --set resume=none \
    --set "run_dir=$out/run" --set "checkpoint_dir=$out/ckpt" | tee "$out/train.log"
[ -f "$out/run/summary.json" ] || fail "the training run wrote no summary.json"
ls "$out/ckpt"/step-*/manifest.json >/dev/null 2>&1 || fail "the training run committed no checkpoint under $out/ckpt"

echo "gpu-check: resuming from the last checkpoint on the GPU(s)"
more=$(( steps + (every < 20 ? every : 20) ))
bin/adan launch -n "$gpus" --config deploy/configs/fashion-resnet.json \
    --set device=cuda --set collective=nccl --set "max_steps=$more" --set "checkpoint_every=$every" --set resume=latest \
    --set "run_dir=$out/resumed" --set "checkpoint_dir=$out/ckpt" | tee "$out/resume.log"
[ -f "$out/resumed/summary.json" ] || fail "the resumed run wrote no summary.json"
grep -q '"resumed_from": *"[^"]' "$out/resumed/summary.json" || fail "the second run did not resume from a checkpoint (no resumed_from in its summary.json)"

echo "gpu-check: NCCL all-reduce and the device copy probe"
if [ "$gpus" -ge 2 ]; then
    mpiexec.mpich -n "$gpus" bin/adan bench allreduce --collective nccl --mib 256 --json "$out/nccl.json"
else
    mpiexec.mpich -n 1 bin/adan bench allreduce --collective nccl --mib 256 --json "$out/nccl.json"
fi

echo
echo "gpu-check summary"
json_field() { grep -o "\"$2\":[^,}]*" "$1" | head -1 | cut -d: -f2- | tr -d '"'; }
echo "  GPUs:                       $gpus"
echo "  samples/s:                  $(json_field "$out/run/summary.json" samples_per_second)"
echo "  optimizer share of a step:  $(json_field "$out/run/summary.json" optimizer_share)"
echo "  communication share:        $(json_field "$out/run/summary.json" communication_share)"
echo "  checkpoint pause (s, all):  $(json_field "$out/run/summary.json" checkpoint_pause_seconds) over $(json_field "$out/run/summary.json" checkpoints_saved) save(s)"
echo "  resumed from:               $(json_field "$out/resumed/summary.json" resumed_from)"
echo "  NCCL all-reduce (256 MiB):  $(json_field "$out/nccl.json" allreduce_ms) ms, bus $(json_field "$out/nccl.json" bus_gbps) GB/s"
echo "  device copy probe:          $(json_field "$out/nccl.json" device_copy_gbps) GB/s"
echo "  NCCL library:               $(json_field "$out/nccl.json" library)"
