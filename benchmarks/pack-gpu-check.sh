#!/usr/bin/env bash
# Packs the GPU check for a GPU host without .NET (../shared/gpu/pack.sh writes .gpu/), then assembles every kernel of
# the packed build for sm_90 (H100, H200) with ptxas into .gpu/app/densegen-kernels, where its CUDA sessions look for
# kernel images (src/DenseGen/Execution/KernelImages.cs): the GPU host then loads machine code instead of compiling.
# Run from anywhere; needs this machine's .NET SDK and ptxas (DENSEGEN_PTXAS, else .ci/get-ptxas.sh fetches CUDA 11.8's).
#   bash benchmarks/pack-gpu-check.sh            then, on the GPU host: bash benchmarks/gpu-check.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bash ../shared/gpu/pack.sh benchmarks/DenseGen.GpuCheck/DenseGen.GpuCheck.csproj
ptxas=${DENSEGEN_PTXAS:-$(bash .ci/get-ptxas.sh)}
# The packed program itself builds them, so that they are its build's (KernelImages keys images by DenseGen's build).
dotnet .gpu/app/DenseGen.GpuCheck.dll --kernel-images .gpu/app/densegen-kernels --ptxas "$ptxas" --arch "${GPU_CHECK_ARCH:-sm_90}"
du -sh .gpu
