#!/usr/bin/env bash
# The GPU check: DenseGen's CUDA kernels against the CPU, then DenseGen and PyTorch training throughput and memory on
# the same card, in one run of under 8 minutes. For a Linux host with an NVIDIA GPU and PyTorch but no .NET SDK.
#
#   here:      bash benchmarks/pack-gpu-check.sh    (../shared/gpu/pack.sh into .gpu/, then kernel images for sm_90)
#   GPU host:  bash benchmarks/gpu-check.sh [OUT_DIR]                                          (default benchmarks/gpu-results)
#
# Writes machine.txt, densegen.json, pytorch.json, the logs and table.md (the table with ratios) into OUT_DIR.
set -u
cd "$(dirname "$0")/.."
out=${1:-${OUT:-benchmarks/gpu-results}}
mkdir -p "$out"
{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader
  echo "kernel images: $(ls .gpu/app/densegen-kernels/*/* 2>/dev/null | grep -c cubin) (benchmarks/pack-gpu-check.sh)"; } 2>&1 | tee "$out/machine.txt"
# The first step as a user meets it, each in a fresh process with empty CUDA JIT and DenseGen kernel text caches: the
# default version as shipped (kernels loaded from the pack's kernel images where it has them, DenseGen's KernelImages);
# then without images (DENSEGEN_KERNEL_IMAGES=off: ILGPU compiles and the driver JITs every kernel); again on the caches
# that run filled (a user's second run: the same PTX, so the driver's cache serves its JIT); the same without ILGPU's
# compile (DENSEGEN_SKIP_CACHED_COMPILE=1: kernels built from the stored PTX, opt-in on CUDA until this row has run); on
# the driver's cache alone (DENSEGEN_KERNEL_CACHE=off: ILGPU's PTX differs between runs, so the driver compiles again);
# with kernels compiled one at a time (DENSEGEN_PARALLEL_COMPILE=0); version 3; DenseNet-121 with and without images.
cache=$(mktemp -d) texts=$(mktemp -d)
for run in "banded" "banded no-images" "banded warm no-images" "banded warm-skip-compile no-images" "banded driver-cache-only no-images" "banded sequential no-images" "pipelined" "banded 121" "banded 121 no-images"; do
  set -- $run
  [[ $* == *warm* || $* == *driver-cache-only* ]] || { rm -rf "$cache" "$texts"; cache=$(mktemp -d) texts=$(mktemp -d); }
  [[ $* == *skip-compile* ]] && skip=1 || skip=0
  [[ $* == *driver-cache-only* ]] && texts_now=off || texts_now=$texts
  [[ $* == *no-images* ]] && images=off || images=$PWD/.gpu/app/densegen-kernels
  DENSEGEN_PARALLEL_COMPILE=$([[ $* == *sequential* ]] && echo 0 || echo 1) DENSEGEN_KERNEL_IMAGES=$images \
  CUDA_CACHE_PATH=$cache DENSEGEN_KERNEL_CACHE=$texts_now DENSEGEN_SKIP_CACHED_COMPILE=$skip timeout 40 bash .gpu/run.sh DenseGen.GpuCheck.dll \
    --first-step --version "$1" --network "$([[ $* == *121* ]] && echo 121 || echo bc-100)" 2>&1 | sed "s/^first step/first step ($run)/"
done | tee "$out/first-step.log"
# The main run on the kernel images, unless the first-step run on them failed (then compiled, and said so: the checks
# and timings must not be lost to a loader that a GPU has not run before).
images=$PWD/.gpu/app/densegen-kernels
grep -q "^first step (banded) .*device open" "$out/first-step.log" || { images=off; echo "kernel images: the first step on them failed; the main run compiles its kernels" | tee -a "$out/machine.txt"; }
# Likewise the 1x1 convs' 16-byte loads (TapKind.OneByOneQuads, new since the last GPU run): if the compiled first step
# failed too, the main run uses the scalar 1x1 kernels (a misaligned 16-byte load would end the CUDA context).
quads=default # CUDA: on
grep -q "^first step (banded no-images) .*device open" "$out/first-step.log" || { quads=off; echo "quads: the compiled first step failed as well; the main run has DENSEGEN_QUADS=off" | tee -a "$out/machine.txt"; }
# Empty driver and kernel text caches: its first timed step is the first step a user meets (compilation included).
DENSEGEN_QUADS=$quads DENSEGEN_KERNEL_IMAGES=$images DENSEGEN_KERNEL_CACHE=$(mktemp -d) CUDA_CACHE_PATH=$(mktemp -d) timeout 150 bash .gpu/run.sh DenseGen.GpuCheck.dll --out "$out" --budget 100 2>&1 | tee "$out/densegen.log"
densegen=${PIPESTATUS[0]}
timeout 230 python3 benchmarks/pytorch_densenet.py --out "$out" --budget 200 2>&1 | tee "$out/pytorch.log"
python3 benchmarks/gpu_table.py "$out" 2>&1 | tee "$out/table.md"
# Nsight Compute, where present and able to read counters, on version 4: the first forward launches of DenseNet-121
# (block 1, the stem skipped: four-band 1x1 bottlenecks and two-band 3x3 growth convs, alternating) and the first
# backward ones of BC-100 (block 3: backward runs the network in reverse), with occupancy, throughput and warp stall
# reasons (version 3's are in benchmarks/results/2026-11-26-h200-v3). A diagnosis for the next kernel version;
# optional (GPU_CHECK_NCU=0 skips it), at most 2 x 60 s. Two launches each: sampling the program counters adds passes.
if command -v ncu >/dev/null && [[ ${GPU_CHECK_NCU:-1} != 0 ]]; then
  # SourceCounters samples the warps' program counters: with it the WarpStateStats rule names the stall reasons
  # (without it ncu warns that smsp__pcsamp_sample_count is missing and gives only cycles per issued instruction).
  sections="--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats --section SourceCounters"
  timeout 60 ncu --clock-control none -k regex:'Forward(Pipelined|Banded)$' --launch-skip 1 --launch-count 2 $sections \
    bash .gpu/run.sh DenseGen.GpuCheck.dll --one-step --network 121 --version banded >"$out/ncu-forward.txt" 2>&1 || echo "ncu (forward): failed or timed out"
  timeout 60 ncu --clock-control none -k regex:'Backward(Weights|InputThroughBatchNorm)(Pipelined|Banded|Growth)$' --launch-count 2 $sections \
    bash .gpu/run.sh DenseGen.GpuCheck.dll --one-step --version banded >"$out/ncu-backward.txt" 2>&1 || echo "ncu (backward): failed or timed out"
  grep -hE '^  Kernel_|Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Grid Size|Registers Per|Warp Cycles Per Issued|Issued Ipc|No Eligible|Stall|stall' \
    "$out/ncu-forward.txt" "$out/ncu-backward.txt" | head -150 || true
fi
exit "$densegen"
