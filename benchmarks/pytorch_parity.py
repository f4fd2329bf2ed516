"""PyTorch's half of the parity check: torchvision's own DenseNets against DenseGen, through files.

    python3 benchmarks/pytorch_parity.py prepare densenet-bc-100 DIR   # weights, input, labels; PyTorch's results
    dotnet run --project dsl-samples/Parity -- densenet-bc-100 DIR     # DenseGen's results (or .gpu/run.sh Parity.dll ...)
    python3 benchmarks/pytorch_parity.py compare densenet-bc-100 DIR   # relative errors, JSON in DIR/parity.json

The weights are saved in float32 under torchvision's state-dict names (BatchNorm parameters and running statistics
randomised so that every term matters); PyTorch then computes in float64 on the CPU from exactly those float32
values, so the comparison measures DenseGen's float32 error; PyTorch's own float32 (CPU) is measured the same way,
which says what float32 error is normal for the network. One run, in this order: training-mode forward and
backward (loss, logits, gradients; running statistics updated once), evaluation-mode forward, one SGD step
(lr 0.1, Nesterov momentum 0.9, weight decay 1e-4).
"""
import json, os, sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.numpy import load_file
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_densenet import densenet_bc100  # noqa: E402

SHAPES = {"densenet-bc-100": (3, 32, 10), "densenet-121": (2, 224, 1000)}


def build(name):
    torch.manual_seed(0)
    model = densenet_bc100() if name == "densenet-bc-100" else torchvision.models.densenet121()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, torch.nn.Linear):
                m.bias.uniform_(-0.5, 0.5)
    return model


def prepare(name, folder):
    os.makedirs(folder, exist_ok=True)
    batch, size, classes = SHAPES[name]
    model = build(name)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "weights.safetensors"))
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, classes, (batch,))
    x.numpy().astype("<f4").tofile(os.path.join(folder, "input.f32"))
    y.numpy().astype("<i8").tofile(os.path.join(folder, "labels.i64"))

    import copy
    results = {}
    for label, dtype in (("torch", torch.float64), ("torch32", torch.float32)):
        m = copy.deepcopy(model).to(dtype).train()
        before = {k: p.detach().clone() for k, p in m.named_parameters()}
        logits = m(x.to(dtype))
        loss = F.cross_entropy(logits, y)
        loss.backward()
        grads = {k: p.grad.detach().clone() for k, p in m.named_parameters()}
        m.eval()
        with torch.no_grad():
            eval_logits = m(x.to(dtype))
        torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True).step()
        after = {k: p.detach().clone() for k, p in m.named_parameters()}
        np.savez(os.path.join(folder, f"{label}.npz"), loss=loss.item(), logits=logits.detach().numpy(), eval_logits=eval_logits.numpy(),
                 **{f"grad:{k}": v.numpy() for k, v in grads.items()}, **{f"before:{k}": v.numpy() for k, v in before.items()},
                 **{f"after:{k}": v.numpy() for k, v in after.items()})
        results[label] = loss.item()
    print(f"{name}: prepared batch {batch} of {size}x{size}, loss {results['torch']:.6f} (float64), {results['torch32']:.6f} (PyTorch float32, CPU)")


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def errors(t, loss, logits, eval_logits, grads, after):
    """Relative errors of one float32 result against PyTorch's float64 result t."""
    names = [k[5:] for k in t.files if k.startswith("grad:")]
    assert set(names) == set(grads), f"gradient names differ: {sorted(set(names) ^ set(grads))[:5]}"
    per_tensor = {k: rel(grads[k], t[f"grad:{k}"]) for k in names}
    worst = max(per_tensor, key=per_tensor.get)
    cat = lambda d: np.concatenate([np.asarray(d[k], dtype=np.float64).ravel() for k in names])
    update = np.concatenate([(np.asarray(after[k], dtype=np.float64) - t[f"before:{k}"]).ravel() for k in names])
    reference_update = np.concatenate([(t[f"after:{k}"] - t[f"before:{k}"]).ravel() for k in names])
    return {
        "loss": abs(loss - float(t["loss"])) / abs(float(t["loss"])), "logits": rel(logits, t["logits"]),
        "eval_logits": rel(eval_logits, t["eval_logits"]), "gradients_all": rel(cat(grads), cat({k: t[f"grad:{k}"] for k in names})),
        "gradients_median_tensor": float(np.median(list(per_tensor.values()))), "gradient_worst": per_tensor[worst],
        "gradient_worst_tensor": worst, "sgd_update": rel(update, reference_update), "tensors": len(names),
    }


def compare(name, folder):
    t = np.load(os.path.join(folder, "torch.npz"))
    p = np.load(os.path.join(folder, "torch32.npz"))
    pick = lambda prefix: {k[len(prefix):]: p[k] for k in p.files if k.startswith(prefix)}
    pytorch32 = errors(t, float(p["loss"]), p["logits"], p["eval_logits"], pick("grad:"), pick("after:"))
    densegen = errors(t, float(open(os.path.join(folder, "densegen_loss.txt")).read()),
                      np.fromfile(os.path.join(folder, "densegen_logits.f32"), dtype="<f4"),
                      np.fromfile(os.path.join(folder, "densegen_eval_logits.f32"), dtype="<f4"),
                      load_file(os.path.join(folder, "densegen_gradients.safetensors")),
                      load_file(os.path.join(folder, "densegen_after_step.safetensors")))
    json.dump({"model": name, "densegen_float32": densegen, "pytorch_float32_cpu": pytorch32}, open(os.path.join(folder, "parity.json"), "w"), indent=2)
    print(f"{name}: relative error against PyTorch float64   DenseGen float32 | PyTorch float32 (CPU)")
    for key in ["loss", "logits", "eval_logits", "gradients_all", "gradients_median_tensor", "gradient_worst", "sgd_update"]:
        print(f"  {key:24s} {densegen[key]:10.2e} | {pytorch32[key]:10.2e}")
    print(f"  worst gradient tensor: DenseGen {densegen['gradient_worst_tensor']}, PyTorch {pytorch32['gradient_worst_tensor']}")
    # DenseGen must be as accurate as PyTorch's own float32 (within 3x), and never worse than these bounds.
    ok = all(densegen[k] <= max(1e-4, 3 * pytorch32[k]) for k in ["loss", "logits", "eval_logits"]) and \
         all(densegen[k] <= max(1e-3, 3 * pytorch32[k]) for k in ["gradients_all", "sgd_update"])
    print("parity ok" if ok else "PARITY FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    command, name, folder = sys.argv[1:4]
    sys.exit(prepare(name, folder) or 0 if command == "prepare" else compare(name, folder))
