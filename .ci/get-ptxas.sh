#!/usr/bin/env bash
# Unpacks NVIDIA's ptxas, cuobjdump and nvdisasm (CUDA 11.8, from Debian 12's non-free nvidia-cuda-toolkit package: the .deb is
# fetched and checked against its SHA-256, nothing is installed and apt's sources are not touched) into a cache folder,
# and prints the path of ptxas. The PTX tests (tests/DenseGen.Tests/PtxasTests.cs) assemble every kernel with it, as the
# CUDA driver's JIT does, to check registers and spills for sm_90 without a GPU; benchmarks/sass_report.py reads the
# same. Usage: DENSEGEN_PTXAS=$(bash .ci/get-ptxas.sh) dotnet test ...
set -euo pipefail
dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/densegen/cuda-11.8}
if [ -x "$dest/ptxas" ] && [ -x "$dest/cuobjdump" ] && [ -x "$dest/nvdisasm" ]; then echo "$dest/ptxas"; exit 0; fi
url='http://deb.debian.org/debian/pool/non-free/n/nvidia-cuda-toolkit/nvidia-cuda-toolkit_11.8.89%7e11.8.0-5%7edeb12u1_amd64.deb'
sha=d1156026e704fe0368b6295db06224ed00a727966fb13454f34e3f3102db0457
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/toolkit.deb" "$url" >&2
echo "$sha  $work/toolkit.deb" | sha256sum -c --quiet - >&2
dpkg-deb --fsys-tarfile "$work/toolkit.deb" | tar -x -C "$work" ./usr/bin/ptxas ./usr/bin/cuobjdump ./usr/bin/nvdisasm
mkdir -p "$dest"
mv "$work/usr/bin/ptxas" "$work/usr/bin/cuobjdump" "$work/usr/bin/nvdisasm" "$dest/"
"$dest/ptxas" --version >&2
echo "$dest/ptxas"
