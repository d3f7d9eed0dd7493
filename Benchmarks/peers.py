"""Times the peers ModelKit is compared with, on the same networks as Benchmarks/Sources/modelkit-bench.

Prints one JSON object per (engine, case) to stdout, for Benchmarks/run.sh. Engines:

- torch: PyTorch eager, torch.set_num_threads(2) (per the benchmark's definition), under torch.inference_mode();
- onnxruntime: the ONNX file exported from the same torch module (TorchScript exporter, dynamic batch axis),
  CPUExecutionProvider, intra-op threads = processor count, all graph optimizations;
- numpy: the same forward pass written with NumPy (x @ W.T + b, maximum, softmax), and the 2048^3 sgemm.

Every engine runs the same function: Linear -> ReLU -> ... -> Linear (-> Softmax for the example network), with
PyTorch's [out, in] weights. Weights are random (timing does not depend on values). Each case is warmed up, then
timed with time.perf_counter_ns around single calls until enough samples or the time budget is reached.

Usage: python peers.py [--quick] [--case NAME]... [--engine NAME]...
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import io
import json
import os
import sys
import time
import warnings

import numpy as np

CASES = [
    # name, network, widths, batch, final softmax
    ("example-1", "example 400-200-100-2", [400, 200, 100, 2], 1, True),
    ("example-50", "example 400-200-100-2", [400, 200, 100, 2], 50, True),
    ("example-1024", "example 400-200-100-2", [400, 200, 100, 2], 1024, True),
    ("wide-1", "wide 1024-4096-4096-1024", [1024, 4096, 4096, 1024], 1, False),
    ("wide-256", "wide 1024-4096-4096-1024", [1024, 4096, 4096, 1024], 256, False),
]
SGEMM_CASE = ("sgemm-2048", "sgemm 2048x2048x2048 float32", 2048)


def measure(body, samples: int, budget: float, warm_up: int) -> list[float]:
    """Runs body warm_up times, then until `samples` timings or `budget` seconds (at least 5); sorted seconds."""
    for _ in range(warm_up):
        body()
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < samples and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter_ns()
        body()
        times.append((time.perf_counter_ns() - start) / 1e9)
    times.sort()
    return times


def report(engine: str, case: str, network: str, batch: int, times: list[float], **extra) -> None:
    record = {
        "engine": engine, "case": case, "network": network, "batch": batch,
        "median_s": times[len(times) // 2], "p10_s": times[len(times) // 10], "p90_s": times[len(times) * 9 // 10],
        "samples": len(times),
    }
    record.update(extra)
    print(json.dumps(record), flush=True)


def numpy_blas_description() -> str:
    """NumPy's BLAS and the kernels it chose at run time (its bundled OpenBLAS reads OPENBLAS_CORETYPE too)."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas*.so"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas_", "openblas_"):
                for suffix in ("64_", ""):
                    name = f"{prefix}get_corename{suffix}"
                    if hasattr(lib, name):
                        function = getattr(lib, name)
                        function.restype = ctypes.c_char_p
                        return f"OpenBLAS (bundled) {function().decode()} kernels"
        except OSError:
            continue
    return "unknown"


def build_torch_module(torch, widths: list[int], softmax: bool):
    layers = []
    for index in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[index], widths[index + 1]))
        if index < len(widths) - 2:
            layers.append(torch.nn.ReLU())
        elif softmax:
            layers.append(torch.nn.Softmax(dim=-1))
    return torch.nn.Sequential(*layers).eval()


def numpy_forward(weights: list[tuple[np.ndarray, np.ndarray]], softmax: bool):
    """The network in NumPy: weights as PyTorch stores them ([out, in]); W.T is a view, not a copy."""
    transposed = [(w.T, b) for w, b in weights]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a fifth of the samples")
    parser.add_argument("--case", action="append", default=[], help="run only these cases")
    parser.add_argument("--engine", action="append", default=[], help="torch, onnxruntime, numpy")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    engines = set(args.engine or ["torch", "onnxruntime", "numpy"])
    selected = set(args.case)
    threads = os.cpu_count() or 1

    import torch
    import onnxruntime

    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(json.dumps({
        "engine": "peers", "python": sys.version.split()[0], "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
        "onnxruntime_threads": threads, "numpy": np.__version__, "numpy_blas": numpy_blas_description(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
    }), flush=True)

    for name, network, widths, batch, softmax in CASES:
        if selected and name not in selected:
            continue
        module = build_torch_module(torch, widths, softmax)
        work = batch * sum(a * b for a, b in zip(widths, widths[1:]))
        # About a second per case (a fifth with --quick), as modelkit-bench does.
        samples = int(max(20, min(20_000, 4_000_000_000 // max(work, 1))) * scale)
        budget = 3 * scale
        warm_up = max(3, samples // 20)
        x = np.random.default_rng(7).uniform(-1, 1, size=(batch, widths[0])).astype(np.float32)

        if "torch" in engines:
            tensor = torch.from_numpy(x)
            with torch.inference_mode():
                times = measure(lambda: module(tensor), samples, budget, warm_up)
            report("torch", name, network, batch, times)

        if "onnxruntime" in engines:
            buffer = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.from_numpy(x[:1]),), buffer, input_names=["input"],
                                  output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
            feeds = {"input": x}
            times = measure(lambda: session.run(None, feeds), samples, budget, warm_up)
            report("onnxruntime", name, network, batch, times)

        if "numpy" in engines:
            weights = [(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())
                       for layer in module if isinstance(layer, torch.nn.Linear)]
            forward = numpy_forward(weights, softmax)
            times = measure(lambda: forward(x), samples, budget, warm_up)
            report("numpy", name, network, batch, times)

    name, network, size = SGEMM_CASE
    if not selected or name in selected:
        rng = np.random.default_rng(9)
        a = rng.uniform(-1, 1, size=(size, size)).astype(np.float32)
        b = rng.uniform(-1, 1, size=(size, size)).astype(np.float32)
        c = np.empty((size, size), dtype=np.float32)
        samples, budget = int(30 * scale) + 5, 6 * scale
        if "numpy" in engines:
            report("numpy", name, network, size, measure(lambda: np.matmul(a, b, out=c), samples, budget, 2))
        if "torch" in engines:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            with torch.inference_mode():
                report("torch", name, network, size, measure(lambda: torch.matmul(ta, tb, out=tc), samples, budget, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
