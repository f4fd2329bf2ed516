#!/usr/bin/env bash
# BenchmarkDotNet before and after a change, on OpenCL (PoCL), runs alternating so that both sides see the same load
# of this shared machine: before-1, after-1, before-2, after-2, ... Only ratios measured this way are compared.
#
#   bash benchmarks/bdn-before-after.sh BEFORE_COMMIT LOG ROUNDS [BenchmarkDotNet arguments...]
#   e.g. DENSEGEN_BENCH_VERSIONS=banded DENSEGEN_BENCH_LAYERS="3x3 growth" \
#        bash benchmarks/bdn-before-after.sh e713f38 benchmarks/results/x.log 2 --filter '*Convolution*BackwardWeights*'
#
# "after" is this working tree. BEFORE_COMMIT is checked out in a worktree beside it (the PoCL chroot mounts the parent
# folder); both are built in Release here, then run with --no-build inside ../shared/opencl/run-in-pocl.sh.
# DENSEGEN_BENCH_* variables pass through. The log gets BenchmarkDotNet's result table of each run.
set -euo pipefail
before=$1 log=$2 rounds=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
# Resolved here, in this tree: a relative name (HEAD~1) given to the worktree would be read from the worktree's own HEAD.
before=$(git -C "$root" rev-parse --verify "$before^{commit}")
parent=$(dirname "$root")
worktree="$parent/tmp-bdn-before"
if [ -d "$worktree" ]; then git -C "$worktree" checkout -q --detach "$before"; else git -C "$root" worktree add -q --detach "$worktree" "$before"; fi
for side in "$worktree" "$root"; do
  (cd "$side" && dotnet build -c Release -v q benchmarks/DenseGen.Benchmarks >/dev/null)
done
pass=()
args=$(printf '%q ' "$@")
for name in $(env | grep -o '^DENSEGEN_BENCH_[A-Z_]*' || true); do pass+=(-e "$name=${!name}"); done
{
  echo "# BenchmarkDotNet on OpenCL (PoCL), $(date -u +%Y-%m-%d), $(nproc) cores: before = $(git -C "$worktree" rev-parse --short HEAD), after = $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' + uncommitted changes')"
  echo "# bash benchmarks/bdn-before-after.sh $before LOG $rounds $*  ($(env | grep '^DENSEGEN_BENCH_' | tr '\n' ' '))"
} > "$log"
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    dir=$([ "$side" = before ] && echo "$worktree" || echo "$root")
    echo "## $side-$round" >> "$log"
    "$parent/shared/opencl/run-in-pocl.sh" -n -w "$parent" "${pass[@]}" -e DENSEGEN_DEVICE=opencl -- \
      bash -c "cd '$dir' && dotnet run -c Release --no-build --project benchmarks/DenseGen.Benchmarks -- $args" 2>&1 \
      | grep -E '^\|' >> "$log" || echo "(run failed)" >> "$log"
  done
done
cat "$log"
