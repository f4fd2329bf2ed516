#!/usr/bin/env bash
# The GPU check: DenseGen's CUDA kernels against the CPU, then DenseGen and PyTorch training throughput and memory on
# the same card, in one run of under 8 minutes. For a Linux host with an NVIDIA GPU and PyTorch but no .NET SDK.
#
#   here:      ../shared/gpu/pack.sh benchmarks/DenseGen.GpuCheck/DenseGen.GpuCheck.csproj     (writes .gpu/)
#   GPU host:  bash benchmarks/gpu-check.sh [OUT_DIR]                                          (default benchmarks/gpu-results)
#
# Writes machine.txt, densegen.json, pytorch.json, the logs and table.md (the table with ratios) into OUT_DIR.
set -u
cd "$(dirname "$0")/.."
out=${1:-${OUT:-benchmarks/gpu-results}}
mkdir -p "$out"
{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; } 2>&1 | tee "$out/machine.txt"
timeout 250 bash .gpu/run.sh DenseGen.GpuCheck.dll --out "$out" --budget 160 2>&1 | tee "$out/densegen.log"
densegen=${PIPESTATUS[0]}
timeout 170 python3 benchmarks/pytorch_densenet.py --out "$out" --budget 140 2>&1 | tee "$out/pytorch.log"
python3 benchmarks/gpu_table.py "$out" 2>&1 | tee "$out/table.md"
exit "$densegen"
