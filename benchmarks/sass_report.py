"""What ptxas makes of DenseGen's PTX, without a GPU: registers, spills, compile time and the main loop's instruction mix.

    DENSEGEN_PTX_DUMP=/tmp/ptx dotnet test tests/DenseGen.Tests --filter "FullyQualifiedName~PtxTests.Compiles"
    python3 benchmarks/sass_report.py --ptxas PATH/ptxas /tmp/ptx/*.ptx

ptxas is the assembler the CUDA driver's JIT runs when DenseGen loads a kernel (CUDA 11.8's, from Debian's
nvidia-cuda-toolkit: `bash .ci/get-ptxas.sh` unpacks it, with cuobjdump and nvdisasm, and prints its path). ILGPU writes PTX
ISA 8.3; this ptxas reads up to 7.8, and DenseGen's kernels use nothing newer, so the version line is rewritten.
Per kernel: registers and spill bytes for sm_90 (what "no local-memory spills" means on an H100), ptxas seconds (a
proxy for the driver's JIT in the first step: on the H200's driver 580 the JIT took 3 to 4 times as long), SASS
instructions, and for the main loop (the backward branch's range with the most FFMA) its instructions per FFMA (a loop nested in it with 90 % of its FFMA is taken instead): a
static measure of the loop's issue cost, not a timing.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time


def sass_instructions(sass):
    return [(int(m.group(1), 16), m.group(2).strip())
            for m in re.finditer(r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", sass, re.M)]


def main_loop(instructions):
    """The loop (a backward branch's range) with the most FFMA (or HMMA); a loop nested in it that holds at least 90 % of them
    is taken instead (the inner product loop, not the tile loop around it that also stages the tiles)."""
    index = {address: i for i, (address, _) in enumerate(instructions)}
    loops = []
    for i, (address, text) in enumerate(instructions):
        m = re.search(r"\bBRA\b.*?0x([0-9a-f]+)", text)
        if not m or int(m.group(1), 16) > address or int(m.group(1), 16) not in index:
            continue
        start = index[int(m.group(1), 16)]
        body = [t for _, t in instructions[start:i + 1]]
        # Multiply-adds: FFMA, or HMMA (version 5's tensor-core mma), whichever the loop has. Loops are ranked by a lane's
        # multiply-adds (an m16n8k8 HMMA is 32 per lane), so an epilogue's few FFMA do not outrank a product's HMMA.
        ffma = sum(1 for t in body if re.search(r"\bFFMA\b", t))
        hmma = sum(1 for t in body if re.search(r"\bHMMA\b", t))
        loops.append((ffma + 32 * hmma, start, i, body, ffma + hmma))
    if not loops:
        return None
    best = max(loops, key=lambda l: (l[0], -len(l[3])))
    while True:
        inner = [l for l in loops if best[1] <= l[1] and l[2] <= best[2] and len(l[3]) < len(best[3]) and l[0] >= 0.9 * best[0]]
        if not inner:
            return best[4], best[3]
        best = max(inner, key=lambda l: (l[0], -len(l[3])))


def opcode(text):
    return re.sub(r"^@!?U?P\w+\s+", "", text).split()[0].split(".")[0]


def report(ptxas, path, arch, cuobjdump):
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "k.ptx")
        with open(path) as f:
            text = re.sub(r"^\.version 8\.\d+", ".version 7.8", f.read(), count=1, flags=re.M)
        with open(source, "w") as f:
            f.write(text)
        cubin = os.path.join(tmp, "k.cubin")
        start = time.perf_counter()
        run = subprocess.run([ptxas, "-v", f"-arch={arch}", source, "-o", cubin], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            return {"kernel": os.path.basename(path), "error": run.stderr.strip()}
        info = run.stderr
        registers = int(re.search(r"Used (\d+) registers", info).group(1))
        spills = sum(int(x) for x in re.findall(r"(\d+) bytes spill (?:stores|loads)", info))
        stack = int((re.search(r"(\d+) bytes stack frame", info) or [0, 0])[1])
        row = {"kernel": os.path.basename(path)[:-4], "ptx_bytes": len(text), "registers": registers, "spill_bytes": spills,
               "stack_bytes": stack, "ptxas_s": seconds}
        if cuobjdump:
            env = dict(os.environ, PATH=os.path.dirname(cuobjdump) + ":" + os.environ.get("PATH", ""))  # it runs nvdisasm
            sass = subprocess.run([cuobjdump, "-sass", cubin], capture_output=True, text=True, env=env).stdout
            instructions = sass_instructions(sass)
            row["sass"] = len(instructions)
            loop = main_loop(instructions)
            if loop and loop[0] > 0:
                ops = collections.Counter(opcode(t) for t in loop[1])
                row["loop"] = len(loop[1])
                row["loop_ffma"] = loop[0]
                row["loop_kind"] = "HMMA" if any(re.search(r"\bHMMA\b", t) for t in loop[1]) else "FFMA"
                row["loop_mix"] = ", ".join(f"{k} {v}" for k, v in ops.most_common(8))
        return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ptxas", required=True)
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--mix", action="store_true", help="print the main loop's most frequent instructions")
    parser.add_argument("ptx", nargs="+")
    args = parser.parse_args()
    cuobjdump = os.path.join(os.path.dirname(args.ptxas), "cuobjdump")
    cuobjdump = cuobjdump if os.path.exists(cuobjdump) else None
    rows = [report(args.ptxas, p, args.arch, cuobjdump) for p in sorted(args.ptx)]
    failed = [r for r in rows if "error" in r]
    print(f"| kernel | PTX KB | registers | spill B | ptxas s | SASS | loop | loop per FFMA |")
    print(f"|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            continue
        loop = f"{r['loop']} / {r['loop_ffma']} {r['loop_kind']}" if "loop" in r else ""
        per = f"{r['loop'] / r['loop_ffma']:.2f}" if "loop" in r else ""
        print(f"| {r['kernel']} | {r['ptx_bytes'] / 1024:.0f} | {r['registers']} | {r['spill_bytes']} | {r['ptxas_s']:.2f} | {r.get('sass', '')} | {loop} | {per} |")
        if args.mix and "loop_mix" in r:
            print(f"|   {r['loop_mix']} |||||||")
    good = [r for r in rows if "error" not in r]
    print(f"\n{len(good)} kernels, {sum(r['ptx_bytes'] for r in good) / 1024:.0f} KB of PTX, ptxas {sum(r['ptxas_s'] for r in good):.2f} s in all, "
          f"{sum(1 for r in good if r['spill_bytes'] or r['stack_bytes'])} with spills or a stack frame")
    for r in failed:
        print(f"FAILED {r['kernel']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
