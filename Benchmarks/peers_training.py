"""The training-step (issue 6) and checkpoint (issue 7) rows of `make bench`: their shared data, float64 reference
and the PyTorch / gzip peers. `peers.py` dispatches here (`prepare --train`, `train`, `checkpoint`).

Training cases: one full step (forward, loss, backward, optimizer update) from the shared weights of a network on one
batch. The example network trains with cross-entropy on logits (the final softmax is fused into the loss, as
`Trainer` and `nn.CrossEntropyLoss` both do), the wide one with MSE. Every engine first runs two steps from the
shared weights on a fresh model and must report the losses before step 1 and before step 2 that NumPy computes in
float64 (`|loss - ref| <= 1e-4 * max(1, |ref|)`): the second loss depends on the whole backward pass and the update,
so a transposed gradient or a wrong update rule fails the check before anything is timed.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time

import numpy as np

from peers import NETWORKS, THREADS, TOLERANCE, emit, load_layers, measure, report

# name, network, batch, optimizer, learning rate, loss
TRAIN_CASES = [
    ("train-example-50-sgd", "example", 50, "sgd", 0.1, "cross-entropy"),
    ("train-example-50-adam", "example", 50, "adam", 1e-3, "cross-entropy"),
    ("train-wide-256-adam", "wide", 256, "adam", 1e-3, "mse"),
]
CHECKPOINT_CASE = {"name": "checkpoint-wide", "network": "wide", "data": "train-wide-256", "optimizer": "adam",
                   "lr": 1e-3, "loss": "mse", "steps": 3}
BETAS, EPSILON = (0.9, 0.999), 1e-8
# torch's optimizer variants: the default, the single-tensor loop and the fused kernel (where the CPU build has it).
VARIANTS = [("default", {}), ("foreach-false", {"foreach": False}), ("fused", {"fused": True})]


def data_name(network: str, batch: int) -> str:
    return f"train-{network}-{batch}"


def train_case_names() -> list[str]:
    return [case[0] for case in TRAIN_CASES]


# MARK: - prepare


def prepare_training(directory: str, manifest: dict, rng: np.random.Generator) -> None:
    """Writes each training batch and the float64 reference losses; adds `train` and `checkpoint` to the manifest."""
    manifest["train"] = []
    written = set()
    for name, key, batch, optimizer, rate, loss in TRAIN_CASES:
        widths = NETWORKS[key]["widths"]
        data = data_name(key, batch)
        if data not in written:
            x = rng.uniform(-1, 1, size=(batch, widths[0])).astype(np.float32)
            if loss == "cross-entropy":
                y = rng.integers(0, widths[-1], size=batch, dtype=np.int64)
            else:
                y = rng.uniform(-1, 1, size=(batch, widths[-1])).astype(np.float32)
            np.save(os.path.join(directory, f"{data}.x.npy"), x)
            np.save(os.path.join(directory, f"{data}.y.npy"), y)
            written.add(data)
        x = np.load(os.path.join(directory, f"{data}.x.npy"))
        y = np.load(os.path.join(directory, f"{data}.y.npy"))
        losses = reference_losses(load_layers(directory, key), x, y, loss, optimizer, rate, steps=2)
        np.save(os.path.join(directory, f"{name}.losses.npy"), np.array(losses, dtype=np.float64))
        manifest["train"].append({"name": name, "network": key, "batch": batch, "data": data, "optimizer": optimizer,
                                  "lr": rate, "loss": loss})
    manifest["checkpoint"] = CHECKPOINT_CASE


def reference_losses(layers, x, y, loss: str, optimizer: str, rate: float, steps: int) -> list[float]:
    """The loss before each of `steps` optimizer steps on the same batch, in float64 (PyTorch's update rules)."""
    weights = [(w.astype(np.float64), b.astype(np.float64)) for w, b in layers]
    moments = [[np.zeros_like(p) for p in pair] for pair in weights]
    squares = [[np.zeros_like(p) for p in pair] for pair in weights]
    losses = []
    for step in range(1, steps + 1):
        value, gradients = reference_gradients(weights, x.astype(np.float64), y, loss)
        losses.append(value)
        updated = []
        for index, ((w, b), (gw, gb)) in enumerate(zip(weights, gradients)):
            pair = []
            for slot, (parameter, gradient) in enumerate(((w, gw), (b, gb))):
                if optimizer == "sgd":
                    pair.append(parameter - rate * gradient)
                    continue
                m = moments[index][slot] = BETAS[0] * moments[index][slot] + (1 - BETAS[0]) * gradient
                v = squares[index][slot] = BETAS[1] * squares[index][slot] + (1 - BETAS[1]) * gradient * gradient
                correction1, correction2 = 1 - BETAS[0] ** step, 1 - BETAS[1] ** step
                pair.append(parameter - rate / correction1 * m / (np.sqrt(v) / np.sqrt(correction2) + EPSILON))
            updated.append(tuple(pair))
        weights = updated
    return losses


def reference_gradients(weights, x, y, loss: str):
    """The loss and ∂L/∂W, ∂L/∂b ([out, in] weights) of Linear → ReLU → … → Linear with `loss` on the last output."""
    activations, z = [x], x
    for index, (w, b) in enumerate(weights):
        z = activations[-1] @ w.T + b
        if index < len(weights) - 1:
            activations.append(np.maximum(z, 0))
    rows = x.shape[0]
    if loss == "cross-entropy":
        shifted = z - z.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = float(-log_softmax[np.arange(rows), y].mean())
        delta = np.exp(log_softmax)
        delta[np.arange(rows), y] -= 1
        delta /= rows
    else:
        difference = z - y.astype(np.float64)
        value = float((difference * difference).mean())
        delta = 2 * difference / difference.size
    gradients = [None] * len(weights)
    for index in reversed(range(len(weights))):
        w, _ = weights[index]
        gradients[index] = (delta.T @ activations[index], delta.sum(axis=0))
        if index > 0:
            delta = (delta @ w) * (activations[index] > 0)
    return value, gradients


# MARK: - PyTorch training step


def torch_setup(torch, directory: str, entry: dict, variant: dict):
    """A fresh module from the shared weights (no final softmax: the loss takes logits), its optimizer with the
    `variant`'s keyword arguments, the batch and the loss function."""
    from peers import build_torch_module

    module = build_torch_module(torch, load_layers(directory, entry["network"]), softmax=False).train()
    if entry["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(module.parameters(), lr=entry["lr"], **variant)
    else:
        optimizer = torch.optim.Adam(module.parameters(), lr=entry["lr"], betas=BETAS, eps=EPSILON, **variant)
    x = torch.from_numpy(np.load(os.path.join(directory, f"{entry['data']}.x.npy")))
    y = torch.from_numpy(np.load(os.path.join(directory, f"{entry['data']}.y.npy")))
    loss_function = torch.nn.CrossEntropyLoss() if entry["loss"] == "cross-entropy" else torch.nn.MSELoss()

    def step():
        optimizer.zero_grad()
        loss = loss_function(module(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return module, optimizer, step


def train(directory: str, cases: list[str], budget: float) -> int:
    import torch

    torch.set_num_threads(THREADS)
    emit({"kind": "environment", "engine": "torch-train", "python": platform.python_version(), "torch": torch.__version__,
          "torch_threads": torch.get_num_threads()})
    with open(os.path.join(directory, "manifest.json")) as file:
        manifest = json.load(file)
    failures = 0
    for entry in manifest.get("train", []):
        name = entry["name"]
        if name not in cases:
            continue
        expected = np.load(os.path.join(directory, f"{name}.losses.npy"))
        for label, variant in VARIANTS:
            engine = f"torch-{label}"
            try:
                _, _, step = torch_setup(torch, directory, entry, variant)
                losses = np.array([float(step().item()) for _ in range(len(expected))])
            except (RuntimeError, ValueError) as error:  # e.g. no fused kernel for this optimizer on this CPU build
                emit({"kind": "skipped", "engine": engine, "case": name, "reason": str(error).splitlines()[0][:200]})
                continue
            error = np.abs(losses - expected) / np.maximum(1.0, np.abs(expected))
            ok = bool(np.all(np.isfinite(losses))) and float(error.max()) <= TOLERANCE
            emit({"kind": "check", "engine": engine, "case": name, "ok": ok, "max_error": float(error.max()),
                  "losses": losses.tolist(), "expected": expected.tolist()})
            if not ok:
                failures += 1
                continue
            report(engine, name, measure(step, budget))
    return 1 if failures else 0


# MARK: - checkpoint


def checkpoint(directory: str, repetitions: int) -> int:
    """torch.save / torch.load of the wide network's state dict and Adam state after a few steps, and gzip -6 of the
    saved file. MB/s are raw float32 bytes (parameters and optimizer buffers) per second, as modelkit-bench reports."""
    import torch

    torch.set_num_threads(THREADS)
    with open(os.path.join(directory, "manifest.json")) as file:
        entry = json.load(file)["checkpoint"]
    module, optimizer, step = torch_setup(torch, directory, entry, {})
    for _ in range(entry["steps"]):
        step()

    def state() -> dict:
        return {"model": module.state_dict(), "optimizer": optimizer.state_dict()}

    tensors = list(module.state_dict().values())
    for buffers in optimizer.state_dict()["state"].values():
        tensors += [value for key, value in buffers.items() if key != "step"]
    raw = sum(tensor.numel() * tensor.element_size() for tensor in tensors)
    name = entry["name"]

    def timed(body) -> list[float]:
        times = []
        for _ in range(max(1, repetitions)):
            start = time.perf_counter_ns()
            body()
            times.append((time.perf_counter_ns() - start) / 1e9)
        return sorted(times)

    with tempfile.TemporaryDirectory(prefix="checkpoint-peers.", dir=directory) as scratch:
        path = os.path.join(scratch, "checkpoint.pt")
        packed = path + ".gz"
        unpacked = os.path.join(scratch, "unpacked.pt")
        times = timed(lambda: torch.save(state(), path))
        size = os.path.getsize(path)
        report("torch", f"{name}-write", times, raw_bytes=raw, file_bytes=size)
        loaded = torch.load(path)
        same = all(torch.equal(a, b) for a, b in zip(loaded["model"].values(), module.state_dict().values()))
        same = same and all(torch.equal(loaded["optimizer"]["state"][key][buffer], value)
                            for key, buffers in optimizer.state_dict()["state"].items()
                            for buffer, value in buffers.items())
        emit({"kind": "check", "engine": "torch", "case": f"{name}-round-trip", "ok": same, "max_error": 0 if same else 1e30})
        del loaded
        report("torch", f"{name}-read", timed(lambda: torch.load(path)), raw_bytes=raw, file_bytes=size)

        def gzip() -> None:
            with open(packed, "wb") as output:
                subprocess.run(["gzip", "-6", "-c", path], stdout=output, check=True)

        def gunzip() -> None:
            with open(unpacked, "wb") as output:
                subprocess.run(["gzip", "-d", "-c", packed], stdout=output, check=True)

        times = timed(gzip)
        report("gzip", f"{name}-write", times, raw_bytes=raw, file_bytes=os.path.getsize(packed))
        times = timed(gunzip)
        with open(path, "rb") as first, open(unpacked, "rb") as second:
            ok = first.read() == second.read()
        emit({"kind": "check", "engine": "gzip", "case": f"{name}-round-trip", "ok": ok, "max_error": 0 if ok else 1e30})
        report("gzip", f"{name}-read", times, raw_bytes=raw, file_bytes=os.path.getsize(packed))
    return 0 if same and ok else 1
