#!/usr/bin/env bash
# Installs the system packages the project needs, once. Does nothing when all are present.
set -euo pipefail

# fonts-dejavu-core: the sweep plots' labels (SkiaSharp's self-contained build has no font of its own).
# gcc: builds the host-memory NCCL stand-in (tests/NcclStandIn) the tests run the NCCL binding against.
packages=(mpich dataset-fashion-mnist fortunes fonts-dejavu-core gcc)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ! command -v dotnet >/dev/null 2>&1; then
    echo "bootstrap: the .NET 10 SDK is required (dotnet not on PATH); install it from your distribution or https://dot.net" >&2
    exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    else
        echo "bootstrap: missing packages ${missing[*]}; run as root or install sudo" >&2
        exit 1
    fi
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
