"""PyTorch's half of the GPU check (benchmarks/gpu-check.sh): the same networks, batch and step as DenseGen's half.

DenseNet-BC-100 k12 (CIFAR, 32x32) is torchvision's DenseNet with the paper's CIFAR stem (a 3x3 conv, no norm0/pool0);
DenseNet-121 is torchvision's densenet121. One training step: forward, softmax cross-entropy, backward, SGD with
Nesterov momentum 0.9 and weight decay 1e-4, batch 64, random data. Modes: eager (strict fp32: TF32 off), eager with
PyTorch's default TF32 convolutions, memory_efficient=True (checkpointed), and torch.compile (strict fp32).
Writes pytorch.json into --out.
"""
import argparse, json, os, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def densenet_bc100(memory_efficient=False):
    model = torchvision.models.DenseNet(growth_rate=12, block_config=(16, 16, 16), num_init_features=24, bn_size=4,
                                        drop_rate=0, num_classes=10, memory_efficient=memory_efficient)
    model.features.conv0 = nn.Conv2d(3, 24, kernel_size=3, padding=1, bias=False)
    model.features.norm0, model.features.relu0, model.features.pool0 = nn.Identity(), nn.Identity(), nn.Identity()
    return model


NETWORKS = {
    "densenet-bc-100": (densenet_bc100, 32, 10, 769_162),
    "densenet-121": (lambda memory_efficient=False: torchvision.models.densenet121(memory_efficient=memory_efficient), 224, 1000, 7_978_856),
}


def measure(name, mode, batch, steps, deadline):
    build, size, classes, expected = NETWORKS[name]
    torch.backends.cudnn.allow_tf32 = mode == "eager-tf32"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    model = build(memory_efficient=(mode == "memory_efficient")).cuda()
    count = sum(p.numel() for p in model.parameters())
    assert count == expected, f"{name}: {count} parameters, expected {expected}"
    if mode == "compile":
        model = torch.compile(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    x = torch.randn(batch, 3, size, size, device="cuda")
    y = torch.randint(0, classes, (batch,), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        if time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if not times:
        raise RuntimeError("the time budget ended before a timed step")
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"{name:16s} {mode:17s} first step {first:6.2f} s  median {median * 1e3:8.2f} ms  "
          f"{batch / median:9.1f} images/s  peak {peak:8.1f} MiB  ({len(times)} steps)", flush=True)
    del model, opt
    torch.cuda.empty_cache()
    return {"images_per_second": batch / median, "median_step_ms": median * 1e3, "peak_mib": peak, "first_step_s": first}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results")
    parser.add_argument("--budget", type=float, default=150)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--modes", default="eager,eager-tf32,memory_efficient,compile")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    deadline = start + args.budget
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    results = {"torch": torch.__version__, "device": torch.cuda.get_device_name()}
    networks, modes = args.networks.split(","), args.modes.split(",")
    # The issue's targets first (eager for both, then BC-100's memory-efficient and compiled), so a tight budget
    # loses the least important numbers: TF32 and DenseNet-121's slow compile come last.
    priority = ["densenet-bc-100.eager", "densenet-121.eager", "densenet-bc-100.memory_efficient",
                "densenet-bc-100.compile", "densenet-121.memory_efficient", "densenet-bc-100.eager-tf32",
                "densenet-121.eager-tf32", "densenet-121.compile"]
    pairs = sorted(((n, m) for n in networks for m in modes),
                   key=lambda p: priority.index(f"{p[0]}.{p[1]}") if f"{p[0]}.{p[1]}" in priority else len(priority))
    for name, mode in pairs:
        if time.perf_counter() > deadline:
            print(f"{name} {mode}: skipped, time budget spent", flush=True)
            continue
        try:
            results[f"{name}.{mode}"] = measure(name, mode, args.batch, 20, deadline)
        except Exception as error:  # a failing mode must not lose the others' numbers
            print(f"{name} {mode}: failed: {error}", flush=True)
        with open(os.path.join(args.out, "pytorch.json"), "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
