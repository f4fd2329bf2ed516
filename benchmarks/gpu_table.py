"""Merges densegen.json and pytorch.json (from benchmarks/gpu-check.sh) into one markdown table with ratios."""
import json, os, sys

out = sys.argv[1] if len(sys.argv) > 1 else "results"
load = lambda name: json.load(open(os.path.join(out, name))) if os.path.exists(os.path.join(out, name)) else {}
dg, pt = load("densegen.json"), load("pytorch.json")
print(f"DenseGen device: {dg.get('device', '?')}; PyTorch {pt.get('torch', '?')} on {pt.get('device', '?')}\n")
print("| network (batch 64, fp32) | implementation | images/s | step ms | peak MiB | DenseGen speed ratio | DenseGen memory ratio |")
print("|---|---|---:|---:|---:|---:|---:|")
for net in ["densenet-bc-100", "densenet-121"]:
    ips = dg.get(f"{net}.images_per_second")
    mem = dg.get(f"{net}.arena_mib")
    if ips:
        print(f"| {net} | DenseGen (first step {dg[f'{net}.first_step_s']:.2f} s) | {ips:.1f} | {dg[f'{net}.median_step_ms']:.1f} | {mem:.1f} | 1 | 1 |")
    for mode in ["eager", "eager-tf32", "memory_efficient", "compile"]:
        r = pt.get(f"{net}.{mode}")
        if not r:
            continue
        speed = f"{ips / r['images_per_second']:.3f}" if ips else "-"
        memory = f"{mem / r['peak_mib']:.3f}" if mem else "-"
        print(f"| {net} | PyTorch {mode} | {r['images_per_second']:.1f} | {r['median_step_ms']:.1f} | {r['peak_mib']:.1f} | {speed} | {memory} |")
checks = {k: v for k, v in dg.items() if k.startswith("check.")}
print("\nCUDA vs CPU accelerator (worst relative error, two training steps): " + ", ".join(f"{k[6:]} {v:.1e}" for k, v in checks.items()))
print("Kernels spilling to local memory: " + (", ".join(dg.get("spilling_kernels", [])) or "none"))
