"""The Python side of `make bench`: the shared data, the peers' timings, and the file-conversion rows.

Subcommands (Benchmarks/run.sh calls them; every timing is printed as one JSON object per line):

- `prepare DIR`: writes the shared inputs once, as .npy files that every engine (ModelKit included) reads, so all
  engines compute the same function on the same numbers: per network the PyTorch-layout weights
  (`<network>.<i>.weight.npy` [out, in], `<network>.<i>.bias.npy`), per case the input and the expected output
  (computed in float64 by NumPy from the float32 weights, an engine-independent reference), the two 2048 x 2048
  sgemm operands and their float64 product, and `manifest.json` listing it all.
- `run DIR --case NAME`: times PyTorch eager (torch.set_num_threads(2), torch.inference_mode()), onnxruntime (the
  ONNX file torch's TorchScript exporter writes for the same module, CPUExecutionProvider, 2 intra-op threads,
  all graph optimizations) and NumPy (x @ W.T + b, maximum, softmax) on one case. Each engine's output is first
  checked against the expected output (|y - ref| <= 1e-4 * max(1, |ref|)); an engine that differs is reported and
  not timed.
- `prepare DIR --train`: also the training rows' data (issue 6): per training case a batch (`<data>.x.npy`, class
  ids or float targets in `<data>.y.npy`) and the float64 NumPy reference of the loss before the first and before
  the second optimizer step from the shared weights (`<case>.losses.npy`), the check every engine passes first.
- `train DIR --case NAME`: times one PyTorch training step (`zero_grad(); loss_fn(module(x), y).backward();
  opt.step()`, 2 threads) per optimizer variant: torch's default, `foreach=False` and `fused=True` where the CPU
  build has it.
- `checkpoint DIR`: the checkpoint peers (issue 7): the wide network after a few Adam steps, `torch.save` /
  `torch.load` of `{"model": state_dict, "optimizer": optimizer.state_dict()}`, and `gzip -6` / `gzip -d` of the
  saved file, in a temporary directory deleted afterwards.
- `files DIR`: writes a 1 GiB safetensors file (four 8192 x 8192 float32 layers, PyTorch names) with
  `safetensors.torch.save_file` and times it, `load_file`, a plain `cp` and a header-only `safe_open`; the file
  stays in DIR for modelkit-bench's conversion rows.

Timing: each case is warmed up, then timed with time.perf_counter_ns around single calls until the time budget is
spent (at least 5 samples); the median is reported. modelkit-bench uses the same rule.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import io
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

NETWORKS = {
    "example": {"title": "example 400-200-100-2", "widths": [400, 200, 100, 2], "softmax": True},
    "wide": {"title": "wide 1024-4096-4096-1024", "widths": [1024, 4096, 4096, 1024], "softmax": False},
}
CASES = [("example-1", "example", 1), ("example-50", "example", 50), ("example-1024", "example", 1024),
         ("wide-1", "wide", 1), ("wide-256", "wide", 256)]
SGEMM_SIZE = 2048
TOLERANCE = 1e-4
THREADS = 2
# The file rows: 4 layers of 8192 x 8192 float32 (256 MiB each) plus biases, a little over 1 GiB.
FILE_LAYERS, FILE_WIDTH = 4, 8192


def case_names() -> list[str]:
    return [name for name, _, _ in CASES] + ["sgemm-2048"]


# MARK: - Timing and output


def measure(body, budget: float) -> list[float]:
    """Warms up (3 calls, and at least a tenth of the budget), then times single calls until `budget` seconds have
    passed and at least 5 samples exist. Sorted seconds."""
    warm_until = time.perf_counter() + budget / 10
    calls = 0
    while calls < 3 or time.perf_counter() < warm_until:
        body()
        calls += 1
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 200_000):
        start = time.perf_counter_ns()
        body()
        times.append((time.perf_counter_ns() - start) / 1e9)
    times.sort()
    return times


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def report(engine: str, case: str, times: list[float], **extra) -> None:
    emit({"kind": "timing", "engine": engine, "case": case, "median_s": times[len(times) // 2],
          "p10_s": times[len(times) // 10], "p90_s": times[len(times) * 9 // 10], "samples": len(times), **extra})


def check(engine: str, case: str, actual: np.ndarray, expected: np.ndarray) -> bool:
    """Whether `actual` equals the reference within the benchmark's tolerance; reports the outcome."""
    actual = np.asarray(actual, dtype=np.float64)
    error = np.abs(actual - expected) / np.maximum(1.0, np.abs(expected)) if actual.shape == expected.shape else None
    worst = float(error.max()) if error is not None and error.size else (0.0 if error is not None else float("inf"))
    ok = error is not None and bool(np.all(np.isfinite(actual))) and worst <= TOLERANCE
    emit({"kind": "check", "engine": engine, "case": case, "ok": ok, "max_error": worst,
          "shape": list(actual.shape), "expected_shape": list(expected.shape)})
    return ok


# MARK: - prepare


def prepare(directory: str, training: bool = False) -> None:
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(20261123)
    manifest = {"tolerance": TOLERANCE, "networks": {}, "cases": [], "sgemm": {"name": "sgemm-2048", "size": SGEMM_SIZE}}
    weights = {}
    for key, network in NETWORKS.items():
        widths = network["widths"]
        layers = []
        for index, (inputs, outputs) in enumerate(zip(widths, widths[1:])):
            bound = 1 / np.sqrt(inputs)  # PyTorch's nn.Linear initialisation range
            weight = rng.uniform(-bound, bound, size=(outputs, inputs)).astype(np.float32)
            bias = rng.uniform(-bound, bound, size=(outputs,)).astype(np.float32)
            np.save(os.path.join(directory, f"{key}.{index}.weight.npy"), weight)
            np.save(os.path.join(directory, f"{key}.{index}.bias.npy"), bias)
            layers.append((weight, bias))
        weights[key] = layers
        manifest["networks"][key] = network
    for name, key, batch in CASES:
        widths = NETWORKS[key]["widths"]
        x = rng.uniform(-1, 1, size=(batch, widths[0])).astype(np.float32)
        np.save(os.path.join(directory, f"{name}.input.npy"), x)
        np.save(os.path.join(directory, f"{name}.expected.npy"), reference_forward(weights[key], NETWORKS[key]["softmax"], x))
        manifest["cases"].append({"name": name, "network": key, "batch": batch})
    a = rng.uniform(-1, 1, size=(SGEMM_SIZE, SGEMM_SIZE)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(SGEMM_SIZE, SGEMM_SIZE)).astype(np.float32)
    np.save(os.path.join(directory, "sgemm-2048.a.npy"), a)
    np.save(os.path.join(directory, "sgemm-2048.b.npy"), b)
    np.save(os.path.join(directory, "sgemm-2048.expected.npy"), a.astype(np.float64) @ b.astype(np.float64))
    if training:
        from peers_training import prepare_training

        prepare_training(directory, manifest, rng)
    with open(os.path.join(directory, "manifest.json"), "w") as file:
        json.dump(manifest, file, indent=1)


def reference_forward(layers, softmax: bool, x: np.ndarray) -> np.ndarray:
    """The network in float64 (the weights are float32 values): the reference every engine is checked against."""
    y = x.astype(np.float64)
    for index, (weight, bias) in enumerate(layers):
        y = y @ weight.astype(np.float64).T + bias.astype(np.float64)
        if index < len(layers) - 1:
            y = np.maximum(y, 0)
    if softmax:
        y = np.exp(y - y.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
    return y


def load_layers(directory: str, key: str) -> list[tuple[np.ndarray, np.ndarray]]:
    count = len(NETWORKS[key]["widths"]) - 1
    return [(np.load(os.path.join(directory, f"{key}.{i}.weight.npy")), np.load(os.path.join(directory, f"{key}.{i}.bias.npy")))
            for i in range(count)]


# MARK: - run


def numpy_blas_description() -> str:
    """NumPy's BLAS and the kernels it chose at run time (its bundled OpenBLAS reads OPENBLAS_CORETYPE too)."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas*.so"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                name = f"{prefix}get_corename{suffix}"
                if hasattr(lib, name):
                    function = getattr(lib, name)
                    function.restype = ctypes.c_char_p
                    return f"OpenBLAS (bundled with NumPy), {function().decode()} kernels"
    return "unknown BLAS"


def build_torch_module(torch, layers, softmax: bool):
    modules = []
    for index, (weight, bias) in enumerate(layers):
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight))
            linear.bias.copy_(torch.from_numpy(bias))
        modules.append(linear)
        if index < len(layers) - 1:
            modules.append(torch.nn.ReLU())
        elif softmax:
            modules.append(torch.nn.Softmax(dim=-1))
    return torch.nn.Sequential(*modules).eval()


def numpy_forward(layers, softmax: bool):
    """The network in NumPy with PyTorch's [out, in] weights (W.T is a view, not a copy)."""
    transposed = [(w.T, b) for w, b in layers]

    def forward(x: np.ndarray) -> np.ndarray:
        for index, (w_t, b) in enumerate(transposed):
            x = x @ w_t
            x += b
            if index < len(transposed) - 1:
                np.maximum(x, 0, out=x)
        if softmax:
            x = x - x.max(axis=1, keepdims=True)
            np.exp(x, out=x)
            x /= x.sum(axis=1, keepdims=True)
        return x

    return forward


def run(directory: str, cases: list[str], engines: set[str], budget: float) -> int:
    import onnxruntime
    import torch

    torch.set_num_threads(THREADS)
    emit({"kind": "environment", "engine": "peers", "python": platform.python_version(), "torch": torch.__version__,
          "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
          "onnxruntime_threads": THREADS, "numpy": np.__version__, "numpy_blas": numpy_blas_description()})
    with open(os.path.join(directory, "manifest.json")) as file:
        manifest = json.load(file)
    failures = 0
    for entry in manifest["cases"]:
        name, key = entry["name"], entry["network"]
        if name not in cases:
            continue
        softmax = NETWORKS[key]["softmax"]
        layers = load_layers(directory, key)
        x = np.load(os.path.join(directory, f"{name}.input.npy"))
        expected = np.load(os.path.join(directory, f"{name}.expected.npy"))
        module = build_torch_module(torch, layers, softmax)

        if "torch" in engines:
            tensor = torch.from_numpy(x)
            with torch.inference_mode():
                if check("torch", name, module(tensor).numpy(), expected):
                    report("torch", name, measure(lambda: module(tensor), budget))
                else:
                    failures += 1

        if "onnxruntime" in engines:
            buffer = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.from_numpy(x[:1]),), buffer, input_names=["input"],
                                  output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = THREADS
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
            feeds = {"input": x}
            if check("onnxruntime", name, session.run(None, feeds)[0], expected):
                report("onnxruntime", name, measure(lambda: session.run(None, feeds), budget))
            else:
                failures += 1

        if "numpy" in engines:
            forward = numpy_forward(layers, softmax)
            if check("numpy", name, forward(x), expected):
                report("numpy", name, measure(lambda: forward(x), budget))
            else:
                failures += 1

    sgemm = manifest["sgemm"]["name"]
    if sgemm in cases and "numpy" in engines:
        a = np.load(os.path.join(directory, f"{sgemm}.a.npy"))
        b = np.load(os.path.join(directory, f"{sgemm}.b.npy"))
        c = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
        np.matmul(a, b, out=c)
        if check("numpy", sgemm, c, np.load(os.path.join(directory, f"{sgemm}.expected.npy"))):
            report("numpy", sgemm, measure(lambda: np.matmul(a, b, out=c), budget * 3))
        else:
            failures += 1
    return 1 if failures else 0


# MARK: - files


def files(directory: str, repetitions: int, layers: int) -> int:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    generator = torch.Generator().manual_seed(5)
    state = {}
    for layer in range(layers):
        state[f"{2 * layer}.weight"] = torch.rand(FILE_WIDTH, FILE_WIDTH, generator=generator) - 0.5
        state[f"{2 * layer}.bias"] = torch.rand(FILE_WIDTH, generator=generator) - 0.5
    path = os.path.join(directory, "model.safetensors")
    scratch = os.path.join(directory, "peer-copy.safetensors")

    def timed(body) -> list[float]:
        times = []
        for _ in range(repetitions):
            start = time.perf_counter_ns()
            body()
            times.append((time.perf_counter_ns() - start) / 1e9)
        return sorted(times)

    save_file(state, path, metadata={"format": "pt"})
    size = os.path.getsize(path)
    emit({"kind": "file", "engine": "peers", "file": path, "bytes": size, "layers": layers, "width": FILE_WIDTH})
    report("safetensors", "save_file", timed(lambda: save_file(state, scratch, metadata={"format": "pt"})), bytes=size)
    loaded = load_file(path)
    if not all(torch.equal(loaded[key], value) for key, value in state.items()):
        emit({"kind": "check", "engine": "safetensors", "case": "load_file", "ok": False, "max_error": float("inf")})
        return 1
    del loaded
    report("safetensors", "load_file", timed(lambda: load_file(path)), bytes=size)
    report("safetensors", "load_save", timed(lambda: save_file(load_file(path), scratch, metadata={"format": "pt"})), bytes=size)
    report("cp", "copy", timed(lambda: subprocess.run(["cp", path, scratch], check=True)), bytes=size)

    def header() -> None:
        with safe_open(path, framework="pt") as handle:
            handle.keys()
            handle.metadata()

    report("safetensors", "header", measure(header, 0.5), bytes=size)
    os.remove(scratch)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("prepare", help="write the shared weights, inputs and expected outputs")
    command.add_argument("directory")
    command.add_argument("--train", action="store_true", help="also the training and checkpoint rows' data")
    command = commands.add_parser("run", help="time the peers on some cases")
    command.add_argument("directory")
    command.add_argument("--case", action="append", default=[], choices=case_names(), help="default: all")
    command.add_argument("--engine", action="append", default=[], choices=["torch", "onnxruntime", "numpy"])
    command.add_argument("--budget", type=float, default=1.0, help="seconds of timed calls per engine and case")
    command = commands.add_parser("files", help="the 1 GiB safetensors rows")
    command.add_argument("directory")
    command.add_argument("--repetitions", type=int, default=3)
    command.add_argument("--layers", type=int, default=FILE_LAYERS, help="8192 x 8192 float32 layers (256 MiB each)")
    command = commands.add_parser("train", help="time PyTorch training steps (needs prepare --train)")
    command.add_argument("directory")
    command.add_argument("--case", action="append", default=[], help="default: all training cases")
    command.add_argument("--budget", type=float, default=1.0, help="seconds of timed steps per variant and case")
    command = commands.add_parser("checkpoint", help="torch.save/torch.load and gzip rows (needs prepare --train)")
    command.add_argument("directory")
    command.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.directory, training=args.train)
        return 0
    if args.command in ("train", "checkpoint"):
        import peers_training

        if args.command == "train":
            return peers_training.train(args.directory, args.case or peers_training.train_case_names(), args.budget)
        return peers_training.checkpoint(args.directory, args.repetitions)
    if args.command == "run":
        return run(args.directory, args.case or case_names(), set(args.engine or ["torch", "onnxruntime", "numpy"]),
                   args.budget)
    return files(args.directory, args.repetitions, args.layers)


if __name__ == "__main__":
    sys.exit(main())
