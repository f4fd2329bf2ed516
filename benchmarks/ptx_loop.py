"""Static instruction mix of a kernel's main loop, from the PTX ILGPU generates (no GPU or ptxas needed; with ptxas,
benchmarks/sass_report.py counts the SASS the driver would run).

    DENSEGEN_PTX_DUMP=/tmp/ptx dotnet test tests/DenseGen.Tests --filter "FullyQualifiedName~PtxTests.Compiles"
    python3 benchmarks/ptx_loop.py /tmp/ptx/ConvolutionKernels.ForwardPipelined.ptx "/tmp/ptx/ConvolutionKernels.ForwardBanded<Bands3, Taps1x1, TreeRowSums>.ptx"

The main loop is taken to be the backward branch's range holding the most f32 multiplies (ILGPU emits a multiply-add
as mul.f32 + add.f32; ptxas fuses them). Prints the loop's PTX instructions per multiply-add: a proxy for issue
pressure, not a timing (it counts a branch's both sides once, and says nothing of latency: version 2's loop is
shorter than version 3's and ran 2.4x slower on an H100).
"""
import re
import sys

for path in sys.argv[1:]:
    lines = open(path).read().split("\n")
    labels = {}
    for i, line in enumerate(lines):
        m = re.match(r"^(\S+):\s*$", line.strip())
        if m:
            labels[m.group(1)] = i
    best = None
    for i, line in enumerate(lines):
        m = re.search(r"bra(\.uni)?\s+(\S+);", line)
        if not (m and m.group(2) in labels and labels[m.group(2)] < i):
            continue
        start = labels[m.group(2)]
        body = [x.strip() for x in lines[start:i + 1]]
        code = [x for x in body if x and not x.endswith(":") and x[0] not in "/.{}"]
        muls = sum(1 for x in code if re.match(r"(@\S+\s+)?(mul|fma)\S*\.f32", x))
        if best is None or muls > best["muls"]:
            best = dict(start=start, end=i, count=len(code), muls=muls,
                        shared=sum("ld.shared" in x for x in code), glob=sum("ld.global" in x for x in code),
                        barriers=sum("bar.sync" in x for x in code))
    if not best or not best["muls"]:
        print(f"{path}: no loop with f32 multiplies")
        continue
    name = path.split("/")[-1]
    print(f"{name}: loop lines {best['start']}-{best['end']}: {best['count']} instructions, {best['muls']} f32 multiplies, "
          f"{best['count'] / best['muls']:.2f} per multiply-add, {best['shared']} shared loads, {best['glob']} global loads, "
          f"{best['barriers']} barriers")
