#!/usr/bin/env python3
"""Generates the training-parity fixtures of the fine-tune engine: small PyTorch training runs, recorded step by step.

    python Fixtures/generate/training_fixtures.py            # (re)write the training fixtures in this repository
    python Fixtures/generate/training_fixtures.py --check    # regenerate into a temporary directory, compare bytes
    python Fixtures/generate/training_fixtures.py --out DIR  # write the tree under DIR instead (DIR/Fixtures/...)

Every run is fully specified by files (initial model in our JSON form, data as .npz, config.json in the CLI's terms)
and its results come from torch (CPU, float32, one thread, deterministic). Each run is also repeated in float64 by
torch and by an independent numpy float64 implementation of the semantics stated in training_README.md that reads
only the written files, so the README's formulas are checked against torch. See training_README.md.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE))
import generate as base  # noqa: E402  (check_versions, make_deterministic, build_example, torch_activation)
import modelkit_json as mkj  # noqa: E402

SCRIPT = "Fixtures/generate/training_fixtures.py"
MODELS = "Fixtures/models/training"
EXPECTED = "Fixtures/expected/training"
EXAMPLE_MODEL = "Fixtures/models/example/example.json"  # written by generate.py; read, never rewritten here
# The numpy float64 re-implementation must agree with torch's float64 run this closely (relative to each value's
# scale), or the semantics written in training_README.md are not the ones torch ran.
REFERENCE_TOLERANCE = 1e-9

# Networks: input features, torch.manual_seed before building (torch's default nn.Linear init), and the layers after
# the input as (units, activation kind, attributes); a None kind means no activation after that dense layer.
NETS = {
    "regression": (8, 21, [(32, "tanh", {}), (16, "relu", {}), (1, None, {})]),
    "classify": (10, 22, [(24, "gelu", {"approximate": "none"}), (3, "softmax", {"axis": -1})]),
    "sse-half": (4, 23, [(6, "sigmoid", {}), (2, None, {})]),
    "bce": (6, 24, [(8, "leaky_relu", {"alpha": 0.1}), (1, "sigmoid", {})]),
    "soft-targets": (5, 25, [(7, "silu", {}), (4, "softmax", {"axis": -1})]),
}
FINAL_NAMES = {"softmax", "sigmoid"}  # a final softmax/sigmoid layer is named by its kind, as in example.json


def config(loss, optimizer, lr, epochs, batch_size, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
           betas=(0.9, 0.999), eps=1e-8, freeze=(), schedule=None, clip_grad_norm=None, l2=0.0) -> dict:
    """A config.json in the CLI's terms, keys in the CLI's order. Unused optimizer keys keep torch's defaults."""
    return {"loss": loss, "optimizer": optimizer, "lr": lr, "momentum": momentum, "dampening": dampening,
            "nesterov": nesterov, "weight_decay": weight_decay, "betas": list(betas), "eps": eps, "epochs": epochs,
            "batch_size": batch_size, "shuffle": False, "freeze": list(freeze),
            "schedule": schedule or {"kind": "constant", "per": "step"}, "clip_grad_norm": clip_grad_norm, "l2": l2}


# Runs: (folder, network, data set, config, what it checks). "example" is Fixtures/models/example/example.json.
RUNS = [
    ("example-ce-sgd", "example", "example-teacher", config("cross-entropy", "sgd", 0.1, 3, 50),
     "the example network, softmax fused into cross-entropy, plain SGD"),
    ("regression-mse-adam", "regression", "regression", config("mse", "adam", 1e-3, 5, 16),
     "tanh and relu backward, MSE, Adam"),
    ("classify-adamw", "classify", "classify", config("cross-entropy", "adamw", 1e-2, 4, 32, weight_decay=0.01),
     "exact GELU backward, AdamW's decoupled weight decay, a partial last batch"),
    ("classify-sgd-nesterov", "classify", "classify",
     config("cross-entropy", "sgd", 0.05, 4, 32, momentum=0.9, nesterov=True, weight_decay=1e-4),
     "SGD momentum with Nesterov and (coupled) weight decay"),
    ("classify-sgd-dampening", "classify", "classify",
     config("cross-entropy", "sgd", 0.05, 4, 32, momentum=0.9, dampening=0.1),
     "SGD momentum with dampening (not applied on the first step)"),
    ("example-frozen-first", "example", "example-teacher",
     config("cross-entropy", "sgd", 0.1, 2, 50, momentum=0.9, freeze=["fc1"]),
     "a frozen layer (fc1 must end bit-identical), SGD momentum"),
    ("sse-half-sgd", "sse-half", "sse-half", config("sse-half", "sgd", 0.01, 3, 8),
     "sigmoid backward, sum-reduced loss (the partial batch's loss is smaller)"),
    ("bce-adam-cosine-clip", "bce", "bce",
     config("binary-cross-entropy", "adam", 0.01, 3, 16, clip_grad_norm=0.5,
            schedule={"kind": "cosine", "t_max": 24, "eta_min": 0.001, "per": "step"}),
     "sigmoid fused into BCE, leaky_relu backward, cosine schedule, gradient clipping"),
    ("soft-targets-warmup-step-l2", "soft-targets", "soft-targets",
     config("cross-entropy", "sgd", 0.1, 3, 16, momentum=0.5, l2=0.01,
            schedule={"kind": "warmup-linear", "start_factor": 0.1, "end_factor": 1.0, "warmup_steps": 5,
                      "per": "step"}),
     "probability targets, SiLU backward, linear warm-up, the l2 penalty"),
    ("step-schedule", "soft-targets", "soft-targets",
     config("cross-entropy", "sgd", 0.1, 3, 16, momentum=0.5,
            schedule={"kind": "step", "step_size": 4, "gamma": 0.5, "per": "step"}),
     "StepLR (step_size 4 steps, gamma 0.5), on the soft-target network and data"),
]
GRADIENT_RUNS = ["example-ce-sgd", "regression-mse-adam", "sse-half-sgd", "bce-adam-cosine-clip"]


def log(message: str = "") -> None:
    print(message, flush=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# Networks and data


def net_layers(net: str) -> tuple[int, list[tuple[str, str, dict]]]:
    """(input features, [(layer name, kind, attributes)]) in our JSON form's naming: fc1, tanh1, fc2, ..., softmax."""
    if net == "example":
        return 400, [("fc1", "dense", {}), ("relu1", "relu", {}), ("fc2", "dense", {}), ("relu2", "relu", {}),
                     ("fc3", "dense", {}), ("softmax", "softmax", {"axis": -1})]
    features, _, spec = NETS[net]
    layers = []
    for index, (_, kind, attributes) in enumerate(spec, start=1):
        layers.append((f"fc{index}", "dense", {}))
        if kind is not None:
            name = kind if index == len(spec) and kind in FINAL_NAMES else f"{kind}{index}"
            layers.append((name, kind, dict(attributes)))
    return features, layers


def initial_state(torch, net: str) -> dict[str, np.ndarray]:
    """Initial float32 weights by tensor name: torch's default nn.Linear init after manual_seed."""
    if net == "example":
        model = base.build_example(torch)  # exactly what generate.py wrote to example.json
        linears = [model[0], model[2], model[4]]
    else:
        features, seed, spec = NETS[net]
        torch.manual_seed(seed)
        linears, inputs = [], features
        for units, _, _ in spec:
            linears.append(torch.nn.Linear(inputs, units))
            inputs = units
    state = {}
    for index, linear in enumerate(linears, start=1):
        state[f"fc{index}.weight"] = linear.weight.detach().numpy().copy()  # [out, in], as torch stores it
        state[f"fc{index}.bias"] = linear.bias.detach().numpy().copy()
    return state


def make_data(torch, name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(x float32, y, how) from a fixed teacher; everything from one seeded torch.Generator per data set."""
    g = torch.Generator().manual_seed({"example-teacher": 5001, "regression": 5002, "classify": 5003,
                                       "sse-half": 5004, "bce": 5005, "soft-targets": 5006}[name])
    if name == "example-teacher":
        x = torch.randn(500, 400, generator=g)
        teacher = torch.randn(400, 2, generator=g)
        y = (x @ teacher).argmax(dim=1)
        how = "x ~ N(0,1) [500, 400]; y = argmax(x @ T) with T ~ N(0,1) [400, 2] (int64 class ids)"
    elif name == "regression":
        x = torch.randn(256, 8, generator=g)
        a, c = torch.randn(8, 4, generator=g), torch.randn(4, 1, generator=g)
        y = torch.tanh(x @ a * 0.5) @ c + 0.3 * x[:, :1] * x[:, 1:2]
        how = "x ~ N(0,1) [256, 8]; y = tanh(0.5 x A) C + 0.3 x0 x1, A [8, 4], C [4, 1] ~ N(0,1) (float32 [256, 1])"
    elif name == "classify":
        x = torch.randn(200, 10, generator=g)
        a, b = torch.randn(10, 6, generator=g), torch.randn(6, 3, generator=g)
        y = (torch.tanh(x @ a) @ b).argmax(dim=1)
        how = "x ~ N(0,1) [200, 10]; y = argmax(tanh(x A) B), A [10, 6], B [6, 3] ~ N(0,1) (int64 class ids)"
    elif name == "sse-half":
        x = torch.randn(60, 4, generator=g)
        a, b = torch.randn(4, 3, generator=g), torch.randn(3, 2, generator=g)
        y = torch.sigmoid(x @ a) @ b
        how = "x ~ N(0,1) [60, 4]; y = sigmoid(x A) B, A [4, 3], B [3, 2] ~ N(0,1) (float32 [60, 2])"
    elif name == "bce":
        x = torch.randn(120, 6, generator=g) * 2  # wide inputs: larger gradients, so clipping acts on many steps
        w = torch.randn(6, 1, generator=g)
        y = ((x @ w + 0.5 * x[:, :1] * x[:, 1:2]) > 0).float()
        how = "x ~ N(0,2^2) [120, 6]; y = 1 if x w + 0.5 x0 x1 > 0 else 0, w ~ N(0,1) [6, 1] (float32 [120, 1])"
    else:
        x = torch.randn(90, 5, generator=g)
        a = torch.randn(5, 4, generator=g)
        y = torch.softmax(x @ a * 2.0, dim=1)
        how = "x ~ N(0,1) [90, 5]; y = softmax(2 x A), A ~ N(0,1) [5, 4] (float32 probabilities [90, 4])"
    y = y.numpy().astype(np.int64 if y.dtype == torch.int64 else np.float32)
    return x.numpy().astype(np.float32), y, how


def save_npz(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """np.savez(x=x, y=y): a stored (uncompressed) zip of x.npy and y.npy. zipfile stamps members it names itself
    1980-01-01, so the bytes do not depend on the clock (checked by --check)."""
    np.savez(path, x=x, y=y)
    with np.load(path, allow_pickle=False) as loaded:
        assert loaded["x"].tobytes() == x.tobytes() and loaded["y"].tobytes() == y.tobytes()


def model_document(name: str, features: int, layers, arrays: dict, producer: str, metadata: dict) -> dict:
    """Our JSON model form (Specs/format.md 3, 5): float32 tensors, dense weights [out, in] tagged out_in."""
    layer_entries, tensors = [], []
    for layer, kind, attributes in layers:
        if kind == "dense":
            weight = arrays[f"{layer}.weight"]
            source = "shape" if weight.shape[0] != weight.shape[1] else "convention"
            layer_entries.append(mkj.layer_entry(layer, "dense", weight=f"{layer}.weight", bias=f"{layer}.bias"))
            tensors.append(mkj.tensor_entry(f"{layer}.weight", weight, "float32", "out_in", source))
            tensors.append(mkj.tensor_entry(f"{layer}.bias", arrays[f"{layer}.bias"], "float32"))
        else:
            layer_entries.append(mkj.layer_entry(layer, kind, attributes))
    return {"format": "modelkit-json", "version": "1.0",
            "model": {"name": name, "producer": producer, "source_format": "pytorch",
                      "input": {"shape": [None, features], "dtype": "float32"},
                      "metadata": dict(sorted(metadata.items()))},
            "layers": layer_entries, "tensors": tensors}


def read_model(path: Path) -> tuple[list[tuple[str, str, dict]], dict[str, np.ndarray]]:
    """Layers and float32 tensors of a JSON-form model, parsed from the file's text."""
    document = mkj.parse_strict(path)
    arrays = {t["name"]: np.array([np.float32(str(v)) for v in t["values"]], dtype=np.float32)
              .reshape([int(d) for d in t["shape"]]) for t in document["tensors"]}
    for t in document["tensors"]:
        assert t.get("layout") in (None, "out_in"), "this generator only writes out_in weights"
    layers = [(l["name"], l["kind"], {k: json.loads(str(v)) if isinstance(v, mkj.NumberText) else v
                                      for k, v in l["attributes"].items()}) for l in document["layers"]]
    return layers, arrays


def fused_layer(layers, loss: str) -> str | None:
    """The final layer the trainer fuses into the loss (softmax into cross-entropy, sigmoid into BCE), if any."""
    name, kind, _ = layers[-1]
    if (loss, kind) in (("cross-entropy", "softmax"), ("binary-cross-entropy", "sigmoid")):
        return name
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Training in torch


def torch_equivalent(cfg: dict) -> str:
    loss = {"mse": "nn.MSELoss()(out, y)", "sse-half": "0.5 * ((out - y) ** 2).sum()",
            "cross-entropy": "nn.CrossEntropyLoss()(logits, y)",
            "binary-cross-entropy": "nn.BCEWithLogitsLoss()(logits, y)"}[cfg["loss"]]
    if cfg["optimizer"] == "sgd":
        opt = (f"SGD(trainable, lr={cfg['lr']}, momentum={cfg['momentum']}, dampening={cfg['dampening']}, "
               f"nesterov={cfg['nesterov']}, weight_decay={cfg['weight_decay']}, foreach=False)")
    else:
        name = {"adam": "Adam", "adamw": "AdamW"}[cfg["optimizer"]]
        opt = (f"{name}(trainable, lr={cfg['lr']}, betas={tuple(cfg['betas'])}, eps={cfg['eps']}, "
               f"weight_decay={cfg['weight_decay']}, foreach=False)")
    parts = [f"opt = torch.optim.{opt}"]
    schedule = cfg["schedule"]
    if schedule["kind"] == "step":
        parts.append(f"sched = StepLR(opt, step_size={schedule['step_size']}, gamma={schedule['gamma']})")
    elif schedule["kind"] == "cosine":
        parts.append(f"sched = CosineAnnealingLR(opt, T_max={schedule['t_max']}, eta_min={schedule['eta_min']})")
    elif schedule["kind"] == "warmup-linear":
        parts.append(f"sched = LinearLR(opt, start_factor={schedule['start_factor']}, end_factor="
                     f"{schedule['end_factor']}, total_iters={schedule['warmup_steps']})")
    if cfg["freeze"]:
        parts.append(f"layers {cfg['freeze']}: requires_grad_(False), not given to opt")
    step = f"per batch (file order, last partial kept): opt.zero_grad(); loss = {loss}"
    if cfg["l2"]:
        step += f" + 0.5 * {cfg['l2']} * sum((W ** 2).sum() for dense W)"
    step += "; loss.backward()"
    if cfg["clip_grad_norm"] is not None:
        step += f"; clip_grad_norm_(trainable, {cfg['clip_grad_norm']}, foreach=False)"
    step += "; opt.step()" + ("; sched.step()" if schedule["kind"] != "constant" else "")
    return "; ".join(parts + [step])


def train_torch(torch, layers, state: dict, x: np.ndarray, y: np.ndarray, cfg: dict, dtype) -> dict:
    """One run in torch with parameters and data in `dtype`; returns the per-step records and final weights."""
    nn = torch.nn
    torch.manual_seed(0)  # nothing below draws random numbers; fixed anyway
    fused = fused_layer(layers, cfg["loss"])
    modules, linears = [], {}
    for name, kind, attributes in layers:
        if name == fused:
            continue
        if kind == "dense":
            weight = state[f"{name}.weight"]
            linear = nn.Linear(weight.shape[1], weight.shape[0], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weight))
                linear.bias.copy_(torch.from_numpy(state[f"{name}.bias"]))
            linears[name] = linear
            modules.append(linear)
        else:
            modules.append(nn.ReLU() if kind == "relu" else base.torch_activation(torch, kind, attributes))
    model = nn.Sequential(*modules).train()
    for name in cfg["freeze"]:
        linears[name].requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    weights = [linear.weight for name, linear in linears.items() if name not in cfg["freeze"]]
    if cfg["optimizer"] == "sgd":
        opt = torch.optim.SGD(trainable, lr=cfg["lr"], momentum=cfg["momentum"], dampening=cfg["dampening"],
                              nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"], foreach=False)
    else:
        kind = torch.optim.Adam if cfg["optimizer"] == "adam" else torch.optim.AdamW
        opt = kind(trainable, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                   weight_decay=cfg["weight_decay"], foreach=False)
    schedule = cfg["schedule"]
    sched = {"constant": lambda: None,
             "step": lambda: torch.optim.lr_scheduler.StepLR(opt, schedule["step_size"], schedule["gamma"]),
             "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, schedule["t_max"],
                                                                          schedule["eta_min"]),
             "warmup-linear": lambda: torch.optim.lr_scheduler.LinearLR(
                 opt, schedule["start_factor"], schedule["end_factor"], schedule["warmup_steps"])}[schedule["kind"]]()
    loss_fn = {"mse": nn.MSELoss(), "sse-half": lambda out, target: 0.5 * ((out - target) ** 2).sum(),
               "cross-entropy": nn.CrossEntropyLoss(), "binary-cross-entropy": nn.BCEWithLogitsLoss()}[cfg["loss"]]
    xs = torch.from_numpy(x).to(dtype)
    ys = torch.from_numpy(y) if y.dtype == np.int64 else torch.from_numpy(y).to(dtype)
    record = {"losses": [], "data_losses": [], "lrs": [], "norms": [], "first_grads": None}
    names = {id(p): f"{layer}.{role}" for layer, linear in linears.items()
             for role, p in (("weight", linear.weight), ("bias", linear.bias))}
    for _ in range(cfg["epochs"]):
        for start in range(0, len(x), cfg["batch_size"]):
            xb, yb = xs[start:start + cfg["batch_size"]], ys[start:start + cfg["batch_size"]]
            record["lrs"].append(float(opt.param_groups[0]["lr"]))
            opt.zero_grad(set_to_none=True)
            data_loss = loss_fn(model(xb), yb)
            loss = data_loss
            if cfg["l2"]:
                loss = data_loss + 0.5 * cfg["l2"] * sum((w ** 2).sum() for w in weights)
            loss.backward()
            if record["first_grads"] is None:
                record["first_grads"] = {names[id(p)]: p.grad.detach().numpy().copy() for p in trainable}
            if cfg["clip_grad_norm"] is not None:
                norm = nn.utils.clip_grad_norm_(trainable, cfg["clip_grad_norm"], foreach=False)
                record["norms"].append(float(norm))
            opt.step()
            if sched is not None:
                sched.step()
            record["losses"].append(float(loss.detach()))
            record["data_losses"].append(float(data_loss.detach()))
    record["final"] = {f"{layer}.{role}": getattr(linear, role).detach().numpy().copy()
                       for layer, linear in linears.items() for role in ("weight", "bias")}
    return record


# ---------------------------------------------------------------------------------------------------------------------
# The semantics of training_README.md in numpy float64, from the written files only


def _activation(kind: str, attributes: dict, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(z), f'(z)). At z == 0 relu' is 0 and leaky_relu' is alpha, as torch's backward."""
    if kind == "relu":
        return np.maximum(z, 0), (z > 0).astype(np.float64)
    if kind == "leaky_relu":
        alpha = attributes.get("alpha", 0.01)
        return np.where(z > 0, z, alpha * z), np.where(z > 0, 1.0, alpha)
    if kind == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    if kind == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s, s * (1 - s)
    if kind == "silu":
        s = 1 / (1 + np.exp(-z))
        return z * s, s * (1 + z * (1 - s))
    if kind == "gelu" and attributes.get("approximate", "none") == "none":
        cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
        return z * cdf, cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    raise ValueError(f"no reference for {kind} {attributes}")


def _loss(kind: str, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(loss, d loss / d z) for a batch; z are the last dense layer's outputs (logits when a layer is fused)."""
    rows = z.shape[0]
    if kind == "mse":
        return float(np.mean((z - y) ** 2)), 2 * (z - y) / z.size
    if kind == "sse-half":
        return float(0.5 * np.sum((z - y) ** 2)), z - y
    if kind == "binary-cross-entropy":
        loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        return float(np.mean(loss)), (1 / (1 + np.exp(-z)) - y) / z.size
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    target = np.eye(z.shape[1])[y] if y.ndim == 1 else y  # class ids or probabilities
    loss = -np.sum(target * log_p) / rows
    return float(loss), (np.exp(log_p) * target.sum(axis=1, keepdims=True) - target) / rows


def _lr(cfg: dict, step: int) -> float:
    """The learning rate of 0-based optimizer step `step`, in closed form."""
    lr, s = cfg["lr"], cfg["schedule"]
    if s["kind"] == "step":
        return lr * s["gamma"] ** (step // s["step_size"])
    if s["kind"] == "cosine":
        return s["eta_min"] + (lr - s["eta_min"]) * (1 + math.cos(math.pi * step / s["t_max"])) / 2
    if s["kind"] == "warmup-linear":
        fraction = min(step, s["warmup_steps"]) / s["warmup_steps"]
        return lr * (s["start_factor"] + (s["end_factor"] - s["start_factor"]) * fraction)
    return lr


def reference_train(model_path: Path, data_path: Path, config_path: Path) -> dict:
    cfg = json.loads(config_path.read_text())
    layers, arrays = read_model(model_path)
    params = {name: value.astype(np.float64) for name, value in arrays.items()}
    with np.load(data_path, allow_pickle=False) as data:
        x, y = data["x"].astype(np.float64), data["y"]
    y = y if y.dtype == np.int64 else y.astype(np.float64)
    fused = fused_layer(layers, cfg["loss"])
    body = [layer for layer in layers if layer[0] != fused]
    trained = [name for name, kind, _ in body if kind == "dense" and name not in cfg["freeze"]]
    keys = [f"{name}.{role}" for name in trained for role in ("weight", "bias")]
    state = {key: {} for key in keys}
    record = {"losses": [], "data_losses": [], "lrs": [], "norms": [], "first_grads": None}
    step = 0
    for _ in range(cfg["epochs"]):
        for start in range(0, len(x), cfg["batch_size"]):
            xb, yb = x[start:start + cfg["batch_size"]], y[start:start + cfg["batch_size"]]
            caches, h = [], xb
            for name, kind, attributes in body:  # forward, keeping what backward needs
                if kind == "dense":
                    caches.append((name, kind, h))
                    h = h @ params[f"{name}.weight"].T + params[f"{name}.bias"]
                else:
                    h, slope = _activation(kind, attributes, h)
                    caches.append((name, kind, slope))
            data_loss, grad = _loss(cfg["loss"], h, yb)
            penalty = 0.5 * cfg["l2"] * sum(np.sum(params[f"{n}.weight"] ** 2) for n in trained)
            grads = {}
            for name, kind, saved in reversed(caches):  # backward
                if kind == "dense":
                    if name in trained:
                        grads[f"{name}.weight"] = grad.T @ saved + cfg["l2"] * params[f"{name}.weight"]
                        grads[f"{name}.bias"] = grad.sum(axis=0)
                    grad = grad @ params[f"{name}.weight"]
                else:
                    grad = grad * saved
            if record["first_grads"] is None:
                record["first_grads"] = {key: grads[key].copy() for key in keys}
            if cfg["clip_grad_norm"] is not None:
                norm = math.sqrt(sum(float(np.sum(grads[key] ** 2)) for key in keys))
                coefficient = min(cfg["clip_grad_norm"] / (norm + 1e-6), 1.0)
                grads = {key: value * coefficient for key, value in grads.items()}
                record["norms"].append(norm)
            lr = _lr(cfg, step)
            for key in keys:
                optimizer_step(cfg, lr, step + 1, params, key, grads[key], state[key])
            record["lrs"].append(lr)
            record["losses"].append(data_loss + penalty)
            record["data_losses"].append(data_loss)
            step += 1
    record["final"] = params
    return record


def optimizer_step(cfg: dict, lr: float, t: int, params: dict, key: str, g: np.ndarray, state: dict) -> None:
    """One update of one parameter; t is the 1-based step count. State: momentum buffer / Adam moments."""
    p, wd = params[key], cfg["weight_decay"]
    if cfg["optimizer"] == "sgd":
        g = g + wd * p
        if cfg["momentum"]:
            if "buf" not in state:
                state["buf"] = g.copy()  # the first step stores the gradient itself: no dampening
            else:
                state["buf"] = cfg["momentum"] * state["buf"] + (1 - cfg["dampening"]) * g
            g = g + cfg["momentum"] * state["buf"] if cfg["nesterov"] else state["buf"]
        params[key] = p - lr * g
        return
    b1, b2 = cfg["betas"]
    if cfg["optimizer"] == "adamw":
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    denominator = np.sqrt(state["v"]) / math.sqrt(1 - b2 ** t) + cfg["eps"]
    params[key] = p - (lr / (1 - b1 ** t)) * state["m"] / denominator


def relative_difference(a, b) -> float:
    """max |a - b| / max(1, max |b|): absolute near zero, relative for large values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))) if a.size else 0.0


def compare(first: dict, second: dict) -> dict:
    """Largest differences between two runs' records (losses relative, weights and gradients absolute)."""
    return {"loss": relative_difference(first["losses"], second["losses"]),
            "lr": relative_difference(first["lrs"], second["lrs"]),
            "grad_norm": relative_difference(first["norms"], second["norms"]),
            "weight": max(float(np.max(np.abs(first["final"][k] - second["final"][k]))) for k in second["final"]),
            "first_gradient": max(float(np.max(np.abs(first["first_grads"][k] - second["first_grads"][k])))
                                  for k in second["first_grads"])}


# ---------------------------------------------------------------------------------------------------------------------
# Writing


class Writer:
    def __init__(self, root: Path):
        self.root, self.files = root, []

    def path(self, relative: str) -> Path:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        self.files.append(relative)
        return target

    def json(self, relative: str, document) -> None:
        mkj.write_json(self.path(relative), document)


def check_example(torch) -> dict[str, np.ndarray]:
    """The example's weights rebuilt as generate.py builds them, checked bit for bit against example.json."""
    _, written = read_model(REPO / EXAMPLE_MODEL)
    rebuilt = initial_state(torch, "example")
    if set(rebuilt) != set(written) or any(rebuilt[k].tobytes() != written[k].tobytes() for k in rebuilt):
        raise SystemExit(f"error: {EXAMPLE_MODEL} does not hold the weights of generate.build_example "
                         "(manual_seed(0)); regenerate it with generate.py first")
    log(f"{EXAMPLE_MODEL}: weights identical (bit for bit) to generate.build_example after manual_seed(0)")
    return rebuilt


def generate(root: Path) -> tuple[Writer, list]:
    torch = base.make_deterministic()
    version = torch.__version__.split("+")[0]
    producer = f"torch {version} via {SCRIPT}"
    out = Writer(root)
    models, datasets = {"example": (EXAMPLE_MODEL, REPO / EXAMPLE_MODEL, check_example(torch))}, {}
    for net in NETS:
        features, layers = net_layers(net)
        state = initial_state(torch, net)
        relative = f"{MODELS}/{net}.json"
        out.json(relative, model_document(net, features, layers, state, producer,
                                          {"init": f"torch.manual_seed({NETS[net][1]}), nn.Linear default init"}))
        mkj.check_model_file(root / relative)
        models[net] = (relative, root / relative, state)
    for name in ("example-teacher", "regression", "classify", "sse-half", "bce", "soft-targets"):
        x, y, how = make_data(torch, name)
        relative = f"{MODELS}/{name}.npz"
        save_npz(out.path(relative), x, y)
        datasets[name] = (relative, x, y, how)
    summary = [write_run(torch, out, producer, run, models[net], datasets[data], net_layers(net), cfg, purpose)
               for run, net, data, cfg, purpose in RUNS]
    write_manifest(out, summary, version)
    return out, summary


def write_run(torch, out: Writer, producer: str, run: str, model, dataset, net, cfg: dict, purpose: str) -> tuple:
    """Trains one run three ways (torch float32, torch float64, numpy float64 from the files) and writes it."""
    (model_rel, model_path, state), (data_rel, x, y, how), (features, layers) = model, dataset, net
    folder = f"{EXPECTED}/{run}"
    cfg = dict(cfg, torch_equivalent=torch_equivalent(cfg))
    out.json(f"{folder}/config.json", cfg)
    result = train_torch(torch, layers, state, x, y, cfg, torch.float32)
    twin = train_torch(torch, layers, {k: v.astype(np.float64) for k, v in state.items()}, x, y, cfg, torch.float64)
    reference = reference_train(model_path, out.root / data_rel, out.root / f"{folder}/config.json")
    semantics, drift = compare(reference, twin), compare(result, twin)
    log(f"{run}: numpy reference vs torch float64 {semantics}")
    log(f"{run}: torch float32 vs float64 {drift}")
    bad = {k: v for k, v in semantics.items() if v > REFERENCE_TOLERANCE}
    if bad:
        raise SystemExit(f"error: {run}: the numpy re-implementation of the stated semantics differs from "
                         f"torch float64 by {bad}; training_README.md would describe something else")
    for key in [f"{name}.{role}" for name in cfg["freeze"] for role in ("weight", "bias")]:
        assert result["final"][key].tobytes() == state[key].tobytes(), f"frozen {key} changed"
    steps_per_epoch = -(-len(x) // cfg["batch_size"])
    epoch_means = [float(np.mean(result["losses"][e * steps_per_epoch:(e + 1) * steps_per_epoch]))
                   for e in range(cfg["epochs"])]
    final_rel = f"{folder}/final.json"
    out.json(final_rel, model_document(f"{run}.final", features, layers, result["final"], producer,
                                       {"trained_from": model_rel, "training_run": f"{folder}/config.json"}))
    mkj.check_model_file(out.root / final_rel)
    reduction = LOSS_REDUCTION["cross-entropy-probabilities" if cfg["loss"] == "cross-entropy" and y.ndim == 2
                               else cfg["loss"]]
    document = {
        "run": run, "checks": purpose,
        "model": model_rel, "model_sha256": sha256(model_path),
        "data": data_rel, "data_sha256": sha256(out.root / data_rel), "data_note": how,
        "config": f"{folder}/config.json",
        "rows": len(x), "batch_size": cfg["batch_size"], "steps_per_epoch": steps_per_epoch,
        "last_batch_rows": len(x) - (steps_per_epoch - 1) * cfg["batch_size"], "total_steps": len(result["losses"]),
        "fused_final_layer": fused_layer(layers, cfg["loss"]),
        "trained_layers": [n for n, k, _ in layers if k == "dense" and n not in cfg["freeze"]],
        "loss_reduction": reduction,
        "step_losses_are": "the loss of each optimizer step's batch at the weights before that step's update, as "
                           "the float32 torch computed, written exactly as float64"
                           + (" (including the l2 penalty; step_data_losses without it)" if cfg["l2"] else ""),
        "step_losses": result["losses"],
    }
    if cfg["l2"]:
        document["step_data_losses"] = result["data_losses"]
    document["step_lrs"] = result["lrs"]
    if cfg["clip_grad_norm"] is not None:
        document["step_grad_norms_before_clip"] = result["norms"]
    document["epoch_mean_losses_are"] = ("the arithmetic mean (float64) of the epoch's step_losses, every step "
                                         "weighing the same, the partial last batch included")
    document["epoch_mean_losses"] = epoch_means
    document["final_model"] = final_rel
    document["float64_drift"] = {
        "note": "the same run in torch float64 from the same float32 start: how far float32 rounding alone moves "
                "the results (absolute for weights and gradients, relative to max(1, |value|) for losses)",
        "max_weight_difference": float(f"{drift['weight']:.3g}"),
        "max_loss_difference": float(f"{drift['loss']:.3g}"),
        "max_first_gradient_difference": float(f"{drift['first_gradient']:.3g}")}
    document["producer"] = producer
    out.json(f"{folder}/run.json", document)
    if run in GRADIENT_RUNS:
        relative = f"{EXPECTED}/gradients/{run}.json"
        metadata = {"gradient_of": f"{reduction}, at the initial weights of {model_rel}, on rows "
                                   f"0..<{min(cfg['batch_size'], len(x))} of {data_rel}, before any clipping",
                    "values": "each tensor holds d loss / d parameter in the parameter's own shape and layout",
                    "float64_max_abs_difference": f"{drift['first_gradient']:.3g}"}
        out.json(relative, model_document(f"{run}.gradients", features, layers, result["first_grads"], producer,
                                          metadata))
        mkj.check_model_file(out.root / relative)
    return (run, len(result["losses"]), result["losses"][0], result["losses"][-1], epoch_means, drift["weight"],
            semantics["weight"])


LOSS_REDUCTION = {
    "mse": "nn.MSELoss(): mean over all elements (rows x outputs) of (out - y)^2",
    "sse-half": "0.5 * ((out - y) ** 2).sum(): summed over rows and outputs, no mean",
    "cross-entropy": "nn.CrossEntropyLoss() on the logits (the final softmax fused): mean over the batch's rows of "
                     "-log_softmax(logits)[y]",
    "cross-entropy-probabilities": "nn.CrossEntropyLoss() with probability targets on the logits (softmax fused): "
                                   "mean over the batch's rows of -sum_c y_c * log_softmax(logits)_c",
    "binary-cross-entropy": "nn.BCEWithLogitsLoss() on the logits (the final sigmoid fused): mean over all elements "
                            "of max(z, 0) - z*y + log(1 + exp(-|z|))",
}


def summary_table(summary) -> list[str]:
    lines = ["| run | steps | first loss | last loss | epoch means | f32 vs f64 max weight diff | numpy ref vs torch "
             "f64 |", "|---|---|---|---|---|---|---|"]
    for run, steps, first, last, means, drift, semantics in summary:
        lines.append(f"| `{run}` | {steps} | {first:.6f} | {last:.6f} | {', '.join(f'{m:.4f}' for m in means)} | "
                     f"{drift:.2g} | {semantics:.2g} |")
    return lines


def write_manifest(out: Writer, summary, version: str) -> None:
    lines = ["# Training fixtures manifest", "",
             f"Written by `{SCRIPT}` (do not edit by hand; see `Fixtures/generate/training_README.md`). "
             f"torch {version}, numpy {np.__version__}.",
             f"`{SCRIPT}` sha256: `{sha256(HERE / 'training_fixtures.py')}`.", "", "## Runs", ""]
    lines += summary_table(summary)
    lines += ["", "## Files", "", "| file | bytes | sha256 |", "|---|---|---|"]
    for relative in sorted(out.files):
        lines.append(f"| `{relative}` | {(out.root / relative).stat().st_size} | `{sha256(out.root / relative)}` |")
    target = out.path(f"{EXPECTED}/MANIFEST.md")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(root: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="modelkit-training-") as scratch:
        fresh, _ = generate(Path(scratch))
        different = [r for r in fresh.files
                     if not (root / r).is_file() or not filecmp.cmp(root / r, Path(scratch) / r, shallow=False)]
    if different:
        log("training fixtures differ from a fresh generation: " + ", ".join(different))
        return 1
    log(f"all {len(fresh.files)} training fixture files are byte-identical to a fresh generation")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO, help="root to write Fixtures/... under (default: repo)")
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare")
    parser.add_argument("--allow-other-versions", action="store_true",
                        help="run even if installed tools differ from requirements.txt (outputs will differ)")
    args = parser.parse_args()
    base.check_versions(args.allow_other_versions)
    if args.check:
        return check(args.out.resolve())
    _, summary = generate(args.out.resolve())
    log("\n".join(summary_table(summary)))
    total = sum((args.out.resolve() / f).stat().st_size for f in _files_under(args.out.resolve()))
    log(f"total size of the training fixtures: {total:,} bytes")
    return 0


def _files_under(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for folder in (MODELS, EXPECTED) for p in sorted((root / folder).rglob("*"))
            if p.is_file()]


if __name__ == "__main__":
    sys.exit(main())
