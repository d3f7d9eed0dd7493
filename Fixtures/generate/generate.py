#!/usr/bin/env python3
"""Generates ModelKit's committed fixtures from the real tools (torch, onnxruntime, safetensors), deterministically.

    python Fixtures/generate/generate.py            # (re)write the fixtures in this repository
    python Fixtures/generate/generate.py --check    # regenerate into a temporary directory and compare byte for byte
    python Fixtures/generate/generate.py --out DIR  # write the tree under DIR instead (DIR/Fixtures/...)

Every expected value comes from torch (CPU, float32, one thread) or onnxruntime, never from ModelKit. See README.md
for what each file is for; MANIFEST.md (written last) lists every file with its sha256.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import importlib.metadata
import logging
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep __pycache__ out of the fixture tree
sys.path.insert(0, str(HERE))
import modelkit_json as mkj  # noqa: E402  (needs the path above)

SCRIPT = "Fixtures/generate/generate.py"
OPSET = 20
# Input seeds (torch.Generator().manual_seed). Chosen once; changing one changes the committed files.
EXAMPLE_BATCHES = {1: 1001, 50: 1050, 1024: 2024}
ZOO_BATCHES = {7: 3007, 64: 3064}
JSON_LIMIT = 1_500_000  # expected-value JSON files larger than this are written as .npy only
# Tolerances we recommend to tests, and the most of them the float64 check may use up (so they have margin).
EXAMPLE_TOLERANCE = (1e-5, 1e-5)  # (atol, rtol)
ZOO_TOLERANCE = (1e-5, 1e-4)
MARGIN = 0.1

# The activation zoo: (in, out, weight layout, weight dtype, the layers after the dense one).
ZOO_SPEC = [
    (16, 32, "out_in", "float32", [("act1", "leaky_relu", {"alpha": 0.1})]),
    (32, 32, "in_out", "float32", [("act2", "gelu", {"approximate": "none"})]),   # square, stored as Keras would
    (32, 24, "out_in", "float16", [("act3", "gelu", {"approximate": "tanh"})]),   # float16 weight
    (24, 24, "out_in", "float32", [("act4", "silu", {})]),                        # square, PyTorch convention
    (24, 20, "in_out", "float32", [("act5", "sigmoid", {})]),
    (20, 20, "out_in", "float32", [("act6", "tanh", {})]),                        # square, PyTorch convention
    (20, 12, "in_out", "float32", [("id7", "identity", {}), ("drop7", "dropout", {"rate": 0.5})]),
    (12, 10, "out_in", "float32", [("out", "log_softmax", {"axis": -1})]),
]
ZOO_SEED = 7
ZOO_GAIN = 1.5  # weights ~ N(0, (gain/sqrt(in))^2) so pre-activations reach both sides of every nonlinearity


def log(message: str = "") -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Environment


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (HERE / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def check_versions(allow_other: bool) -> None:
    wrong = []
    for name, version in pinned_versions().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            wrong.append(f"{name} {installed} (requirements.txt pins {version})")
    if wrong and not allow_other:
        sys.exit("error: the fixtures are pinned to exact tool versions, but this environment has "
                 + "; ".join(wrong) + ". Create a venv and `pip install -r Fixtures/generate/requirements.txt` "
                 "(or pass --allow-other-versions to experiment; do not commit what that writes).")
    for problem in wrong:
        log(f"warning: {problem}")


def make_deterministic():
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # one summation order for every run
    torch.set_float32_matmul_precision("highest")
    torch.set_default_dtype(torch.float32)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
    warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    logging.getLogger("torch._export").setLevel(logging.ERROR)
    return torch


# ---------------------------------------------------------------------------------------------------------------------
# Output bookkeeping


class Outputs:
    """Writes files under the output root and remembers, for MANIFEST.md, what made each and what it holds."""

    def __init__(self, root: Path):
        self.root = root
        self.entries: list[tuple[str, str, str]] = []

    def path(self, relative: str) -> Path:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def record(self, relative: str, made_by: str, holds: str) -> None:
        assert (self.root / relative).is_file(), relative
        self.entries.append((relative, made_by, holds))
        log(f"  wrote {relative} ({(self.root / relative).stat().st_size:,} bytes): {holds}")

    def save_npy(self, relative: str, array: np.ndarray, made_by: str) -> None:
        array = np.ascontiguousarray(array, dtype=np.float32)
        with open(self.path(relative), "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        self.record(relative, made_by, f"float32 {list(array.shape)}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# Models


def build_example(torch):
    """The example network of our notes, with torch's default initialisation after manual_seed(0)."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(400, 200), nn.ReLU(), nn.Linear(200, 100), nn.ReLU(), nn.Linear(100, 2),
                          nn.Softmax(dim=-1))
    return model.eval()


def torch_activation(torch, kind: str, attributes: dict):
    nn = torch.nn
    return {
        "leaky_relu": lambda: nn.LeakyReLU(attributes.get("alpha", 0.01)),
        "gelu": lambda: nn.GELU(approximate=attributes.get("approximate", "none")),
        "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity,
        "dropout": lambda: nn.Dropout(attributes.get("rate", 0.5)),
        "softmax": lambda: nn.Softmax(dim=attributes["axis"]),
        "log_softmax": lambda: nn.LogSoftmax(dim=attributes["axis"]),
    }[kind]()


def zoo_spec(final: str):
    """ZOO_SPEC with its last layer replaced by `final` (softmax or log_softmax)."""
    spec = [list(entry) for entry in ZOO_SPEC]
    spec[-1][4] = [("out", final, {"axis": -1})]
    return spec


def build_zoo(torch, final: str):
    """The activation zoo; the float16 layer's weight is rounded to float16 and back, as ModelKit will compute it."""
    generator = torch.Generator().manual_seed(ZOO_SEED)
    modules = []
    for inputs, outputs, _, dtype, after in zoo_spec(final):
        linear = torch.nn.Linear(inputs, outputs)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(outputs, inputs, generator=generator) * (ZOO_GAIN / inputs ** 0.5))
            linear.bias.copy_(torch.randn(outputs, generator=generator) * 0.5)
            if dtype == "float16":
                linear.weight.copy_(linear.weight.half().float())
        modules.append(linear)
        modules.extend(torch_activation(torch, kind, attributes) for _, kind, attributes in after)
    return torch.nn.Sequential(*modules).eval()


def example_document(model, torch_version: str) -> dict:
    layers, tensors = [], []
    for index, (position, act) in enumerate([(0, "relu1"), (2, "relu2"), (4, None)], start=1):
        linear = model[position]
        name = f"fc{index}"
        layers.append(mkj.layer_entry(name, "dense", weight=f"{name}.weight", bias=f"{name}.bias"))
        tensors.append(mkj.tensor_entry(f"{name}.weight", linear.weight.detach().numpy(), "float32", "out_in", "shape"))
        tensors.append(mkj.tensor_entry(f"{name}.bias", linear.bias.detach().numpy(), "float32"))
        if act:
            layers.append(mkj.layer_entry(act, "relu"))
    layers.append(mkj.layer_entry("softmax", "softmax", {"axis": -1}))
    return model_document("example", torch_version, 400, {}, layers, tensors)


def zoo_document(model, torch_version: str, final: str) -> dict:
    layers, tensors = [], []
    linears = [module for module in model if module.__class__.__name__ == "Linear"]
    for index, (linear, (inputs, outputs, layout, dtype, after)) in enumerate(zip(linears, zoo_spec(final)), start=1):
        name = f"fc{index}"
        weight = linear.weight.detach().numpy()  # [out, in]
        if layout == "in_out":
            weight = weight.T  # [in, out], as Keras stores it
        if inputs != outputs:
            source = "shape"
        else:
            source = "convention" if layout == "out_in" else "declared"  # torch's convention / stated by us
        if dtype == "float16":
            assert np.array_equal(weight.astype(np.float16).astype(np.float32), weight), "float16 weight not rounded"
        layers.append(mkj.layer_entry(name, "dense", weight=f"{name}.weight", bias=f"{name}.bias"))
        tensors.append(mkj.tensor_entry(f"{name}.weight", weight, dtype, layout, source))
        tensors.append(mkj.tensor_entry(f"{name}.bias", linear.bias.detach().numpy(), "float32"))
        layers.extend(mkj.layer_entry(layer, kind, dict(attributes)) for layer, kind, attributes in after)
    metadata = {"float16": "fc3.weight is float16; torch computed with it rounded to float16 and back",
                "layouts": "fc2, fc5, fc7 are stored in_out ([in, out], transposed from torch); the rest out_in",
                "purpose": "every layer kind, both weight layouts, square weights, a float16 weight"}  # sorted keys
    name = "zoo" if final == "log_softmax" else "zoo_softmax"
    return model_document(name, torch_version, 16, metadata, layers, tensors)


def model_document(name, torch_version, features, metadata, layers, tensors) -> dict:
    return {
        "format": "modelkit-json",
        "version": "1.0",
        "model": {
            "name": name,
            "producer": f"torch {torch_version} via {SCRIPT}",
            "source_format": "pytorch",
            "input": {"shape": [None, features], "dtype": "float32"},
            "metadata": metadata,
        },
        "layers": layers,
        "tensors": tensors,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Expected values


def run_torch(torch, model, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(inputs)).numpy().astype(np.float32)


def seeded_inputs(torch, batch: int, features: int, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, features, generator=generator).numpy().astype(np.float32)


def check_against_float64(model_path: Path, inputs, outputs, tolerance, what: str) -> float:
    """Runs the written JSON model in float64 (numpy, independent of torch) and checks torch's float32 output is
    within a tenth of the tolerance we recommend; returns the largest difference."""
    reference = mkj.forward_float64(model_path, inputs)
    atol, rtol = tolerance
    difference = np.abs(outputs.astype(np.float64) - reference)
    allowed = MARGIN * (atol + rtol * np.abs(reference))
    if not np.all(difference <= allowed):
        worst = int(np.argmax(difference - allowed))
        raise SystemExit(f"error: {what}: torch's float32 output differs from a float64 evaluation of "
                         f"{model_path.name} by {difference.flat[worst]:.3g} at flat index {worst}; the model file "
                         "or the reference is wrong")
    return float(difference.max())


def tolerance_note(torch_version, tolerance, worst: float) -> str:
    atol, rtol = tolerance
    return (f"torch {torch_version} CPU float32, 1 thread. A float64 evaluation of the same model file differs from "
            f"these outputs by at most {worst:.2g}; float32 engines sum in other orders, so compare with "
            f"|ours - expected| <= atol + rtol*|expected|, atol={atol:g}, rtol={rtol:g}.")


def write_expected(out: Outputs, torch, model, model_rel: str, folder: str, prefix: str, batches: dict,
                   features: int, tolerance, torch_version: str, input_from: dict | None = None) -> dict:
    """For each batch: input and torch's output as .npy, and as JSON when small enough. Returns the inputs."""
    model_path = out.root / model_rel
    inputs_by_batch = {}
    for batch, seed in batches.items():
        if input_from is not None:
            inputs = input_from[batch]
        else:
            inputs = seeded_inputs(torch, batch, features, seed)
            out.save_npy(f"{folder}/batch{batch}.input.npy", inputs,
                         f"torch.randn({batch}, {features}, generator=manual_seed({seed}))")
        inputs_by_batch[batch] = inputs
        outputs = run_torch(torch, model, inputs)
        worst = check_against_float64(model_path, inputs, outputs, tolerance, f"{model_rel} batch {batch}")
        base = f"{folder}/{prefix}batch{batch}"
        out.save_npy(f"{base}.output.npy", outputs, f"torch {torch_version} forward of {model_rel} on "
                     f"{folder}/batch{batch}.input.npy")
        document = {
            "model": model_rel,
            "input": {"shape": list(inputs.shape), "values": mkj.float_texts(inputs, "float32")},
            "output": {"shape": list(outputs.shape), "values": mkj.float_texts(outputs, "float32")},
            "producer": f"torch {torch_version} via {SCRIPT}",
            "tolerance_note": tolerance_note(torch_version, tolerance, worst),
        }
        text = mkj.render(document) + "\n"
        if len(text.encode()) <= JSON_LIMIT:
            mkj.write_json(out.path(f"{base}.json"), document)
            out.record(f"{base}.json", f"torch {torch_version} ({SCRIPT})",
                       f"input {list(inputs.shape)}, output {list(outputs.shape)}")
        else:
            log(f"  (no {base}.json: it would be {len(text.encode()):,} bytes; the .npy files hold the values)")
    return inputs_by_batch


# ---------------------------------------------------------------------------------------------------------------------
# ONNX, safetensors, torch.save


def strip_stack_traces(proto) -> int:
    """Removes the dynamo exporter's per-node Python stack traces: they hold absolute paths of the venv, so they
    would make the file depend on where torch is installed. Nothing else is changed."""
    removed = 0
    for node in proto.graph.node:
        kept = [(entry.key, entry.value) for entry in node.metadata_props if entry.key != "pkg.torch.onnx.stack_trace"]
        removed += len(node.metadata_props) - len(kept)
        del node.metadata_props[:]
        for key, value in kept:
            node.metadata_props.add(key=key, value=value)
    return removed


def export_onnx(torch, model, sample: np.ndarray, path: Path, dynamo: bool) -> list[str]:
    import onnx
    example = (torch.from_numpy(sample),)
    if dynamo:
        batch = torch.export.Dim("batch")
        torch.onnx.export(model, example, str(path), dynamo=True, input_names=["input"], output_names=["output"],
                          opset_version=OPSET, dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    else:
        torch.onnx.export(model, example, str(path), dynamo=False, input_names=["input"], output_names=["output"],
                          opset_version=OPSET, dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    proto = onnx.load(str(path), load_external_data=False)
    if dynamo and strip_stack_traces(proto):
        onnx.save_model(proto, str(path), save_as_external_data=False)
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    if leftovers or any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise SystemExit(f"error: {path.name} uses external data ({leftovers}); the fixture must be one file")
    data = path.read_bytes()
    for place in {sys.prefix, str(Path(torch.__file__).parent), str(path.parent), str(Path.home())}:
        if place and place.encode() in data:
            raise SystemExit(f"error: {path.name} contains the local path {place!r}; it would not be reproducible")
    onnx.checker.check_model(proto)
    return [describe_node(node) for node in proto.graph.node]


def describe_node(node) -> str:
    """`Op(attribute=value, ...)`, attributes sorted, floats as float32 shortest text (0.1, not 0.10000000149)."""
    import onnx
    parts = []
    for attribute in sorted(node.attribute, key=lambda a: a.name):
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, float):
            value = str(np.float32(value))
        parts.append(f"{attribute.name}={value}")
    op = node.op_type if not node.domain else f"{node.domain}::{node.op_type}"
    return f"{op}({', '.join(parts)})" if parts else op


def describe_onnx(path: Path, ops: list[str]) -> str:
    import onnx
    proto = onnx.load(str(path))
    names = [op.split("(")[0] for op in ops]
    counts = Counter(names)
    op_text = ", ".join(f"{op}×{counts[op]}" if counts[op] > 1 else op for op in dict.fromkeys(names))
    inputs = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    return f"IR {proto.ir_version}, opset {opsets}; input {inputs[0]}; ops: {op_text}"


def run_onnxruntime(path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (result,) = session.run(["output"], {"input": inputs})
    return np.asarray(result, dtype=np.float32)


def write_onnx(out: Outputs, torch, model, name: str, inputs: np.ndarray, batch: int, torch_reference: np.ndarray,
               input_rel: str, versions: dict, op_report: dict) -> None:
    import onnxruntime
    for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
        relative = f"Fixtures/models/onnx/{name}_{exporter}.onnx"
        ops = export_onnx(torch, model, inputs, out.path(relative), dynamo)
        op_report[relative] = ops
        how = "dynamo=True, external_data=False (stack traces stripped)" if dynamo else "dynamo=False"
        out.record(relative, f"torch {versions['torch']} torch.onnx.export({how}, opset_version={OPSET})",
                   describe_onnx(out.root / relative, ops))
        result = run_onnxruntime(out.root / relative, inputs)
        difference = float(np.abs(result - torch_reference).max())
        log(f"  onnxruntime vs torch on {name} batch {batch}: max |difference| {difference:.3g}")
        if difference > 1e-5:
            raise SystemExit(f"error: onnxruntime's output of {relative} differs from torch's by {difference:.3g}")
        out.save_npy(f"Fixtures/expected/onnx/{name}_{exporter}.batch{batch}.output.npy", result,
                     f"onnxruntime {onnxruntime.__version__} (CPU, 1 thread) on {relative} with {input_rel}")


def describe_state(state: dict) -> str:
    return ", ".join(f"{key} {list(value.shape)}" for key, value in state.items())


def write_torch_files(out: Outputs, torch, model, versions: dict) -> None:
    import safetensors
    from safetensors.torch import load_file, save_file
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    relative = "Fixtures/models/safetensors/example.safetensors"
    save_file(state, str(out.path(relative)))
    reloaded = load_file(str(out.root / relative))
    assert all(torch.equal(reloaded[key], state[key]) for key in state) and reloaded.keys() == state.keys()
    out.record(relative, f"safetensors {safetensors.__version__} save_file(example state_dict)", describe_state(state))

    relative = "Fixtures/models/torch/example_state_dict.pt"
    torch.save(model.state_dict(), str(out.path(relative)))  # the zip's folder name comes from the file's stem
    reloaded = torch.load(str(out.root / relative), weights_only=True)
    assert all(torch.equal(reloaded[key], state[key]) for key in state) and list(reloaded) == list(state)
    out.record(relative, f"torch {versions['torch']} torch.save(model.state_dict())", describe_state(state))


# ---------------------------------------------------------------------------------------------------------------------
# Manifest


def write_manifest(out: Outputs, versions: dict, op_report: dict) -> None:
    lines = [
        "# Fixture manifest",
        "",
        f"Written by `{SCRIPT}` (do not edit by hand). `generate.py --check` regenerates every file below into a",
        "temporary directory and compares bytes. Tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"`{SCRIPT}` sha256: `{sha256(HERE / 'generate.py')}`; `modelkit_json.py`: "
        f"`{sha256(HERE / 'modelkit_json.py')}`.",
        "",
        "## ONNX ops per exported file",
        "",
    ]
    for relative, ops in op_report.items():
        lines.append(f"- `{relative}`: {' → '.join(ops)}")
    lines += ["", "## Files", "", "| file | bytes | sha256 | made by | holds |", "|---|---|---|---|---|"]
    for relative, made_by, holds in sorted(out.entries):
        path = out.root / relative
        lines.append(f"| `{relative}` | {path.stat().st_size} | `{sha256(path)}` | {made_by} | {holds} |")
    lines.append("")
    target = out.path("Fixtures/generate/MANIFEST.md")
    target.write_text("\n".join(lines), encoding="utf-8")
    log(f"  wrote Fixtures/generate/MANIFEST.md ({len(out.entries)} files listed)")


# ---------------------------------------------------------------------------------------------------------------------


def generate(root: Path) -> Outputs:
    torch = make_deterministic()
    import onnx
    import onnxruntime
    import safetensors
    torch_version = torch.__version__.split("+")[0]
    versions = {"torch": torch_version, "numpy": np.__version__, "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__, "onnxscript": importlib.metadata.version("onnxscript"),
                "safetensors": safetensors.__version__}
    out = Outputs(root)
    op_report: dict[str, list[str]] = {}

    log("example network 400 → 200 (ReLU) → 100 (ReLU) → 2 (Softmax)")
    example = build_example(torch)
    example_rel = "Fixtures/models/example/example.json"
    mkj.write_json(out.path(example_rel), example_document(example, torch_version))
    summary = mkj.check_model_file(out.root / example_rel)
    assert summary["parameters"] == 100_502, summary
    out.record(example_rel, f"torch {torch_version} nn.Sequential, manual_seed(0), default init",
               f"{summary['layers']} layers, {summary['tensors']} float32 tensors, {summary['parameters']:,} values")
    inputs = write_expected(out, torch, example, example_rel, "Fixtures/expected/example", "", EXAMPLE_BATCHES, 400,
                            EXAMPLE_TOLERANCE, torch_version)
    out.save_npy("Fixtures/expected/example/batch50.input_feature_major.npy", inputs[50].T,
                 "transpose of Fixtures/expected/example/batch50.input.npy (features × batch)")

    for final in ("log_softmax", "softmax"):
        name = "zoo" if final == "log_softmax" else "zoo_softmax"
        log(f"activation zoo ending in {final} ({name})")
        zoo = build_zoo(torch, final)
        zoo_rel = f"Fixtures/models/example/{name}.json"
        mkj.write_json(out.path(zoo_rel), zoo_document(zoo, torch_version, final))
        summary = mkj.check_model_file(out.root / zoo_rel)
        out.record(zoo_rel, f"torch {torch_version}, randn init (seed {ZOO_SEED}, gain {ZOO_GAIN})",
                   f"{summary['layers']} layers ({summary['dense_layers']} dense), {summary['tensors']} tensors, "
                   f"{summary['parameters']:,} values")
        if final == "log_softmax":
            log_preactivations(torch, zoo, seeded_inputs(torch, 64, 16, ZOO_BATCHES[64]))
            zoo_inputs = write_expected(out, torch, zoo, zoo_rel, "Fixtures/expected/zoo", "", ZOO_BATCHES, 16,
                                        ZOO_TOLERANCE, torch_version)
            zoo_model = zoo
        else:
            write_expected(out, torch, zoo, zoo_rel, "Fixtures/expected/zoo", "softmax_", ZOO_BATCHES, 16,
                           ZOO_TOLERANCE, torch_version, input_from=zoo_inputs)

    log("ONNX exports (TorchScript and dynamo exporters) and onnxruntime outputs")
    write_onnx(out, torch, example, "example", inputs[50], 50, run_torch(torch, example, inputs[50]),
               "Fixtures/expected/example/batch50.input.npy", versions, op_report)
    write_onnx(out, torch, zoo_model, "zoo", zoo_inputs[7], 7, run_torch(torch, zoo_model, zoo_inputs[7]),
               "Fixtures/expected/zoo/batch7.input.npy", versions, op_report)
    for relative, ops in op_report.items():
        log(f"  ops of {relative}: {' → '.join(ops)}")

    log("safetensors and torch.save of the example's state_dict")
    write_torch_files(out, torch, example, versions)

    write_manifest(out, versions, op_report)
    return out


def log_preactivations(torch, model, inputs) -> None:
    """Shows that the zoo's pre-activations reach both signs and beyond ±2, so every nonlinearity is exercised."""
    x = torch.from_numpy(inputs)
    with torch.no_grad():
        for module in model:
            x = module(x)
            if module.__class__.__name__ == "Linear":
                log(f"  pre-activation after {tuple(module.weight.shape[::-1])}: min {x.min():.2f}, "
                    f"max {x.max():.2f}, negative {float((x < 0).float().mean()):.0%}")


def check(root: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="modelkit-fixtures-") as scratch:
        fresh = generate(Path(scratch))
        relatives = [entry[0] for entry in fresh.entries] + ["Fixtures/generate/MANIFEST.md"]
        different = [r for r in relatives
                     if not (root / r).is_file() or not filecmp.cmp(root / r, Path(scratch) / r, shallow=False)]
    if different:
        log("fixtures differ from a fresh generation: " + ", ".join(different))
        return 1
    log(f"all {len(relatives)} fixture files are byte-identical to a fresh generation")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parent.parent,
                        help="root to write Fixtures/... under (default: this repository)")
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare")
    parser.add_argument("--allow-other-versions", action="store_true",
                        help="run even if installed tools differ from requirements.txt (outputs will differ)")
    args = parser.parse_args()
    check_versions(args.allow_other_versions)
    if args.check:
        return check(args.out.resolve())
    generate(args.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
