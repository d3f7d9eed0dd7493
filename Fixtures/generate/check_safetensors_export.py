#!/usr/bin/env python3
"""Checks safetensors files written by ModelKit with the real tools: safetensors + numpy, and torch when present.

    python check_safetensors_export.py --check EXPORT.safetensors REFERENCE.json [INPUT.npy OUTPUT.npy] ... \
        [--proof RESULT.json]

For each --check:
1. `safetensors.numpy.load_file(EXPORT)` must give exactly the state_dict PyTorch would save for the reference model
   (a ModelKit JSON model written by torch through generate.py): names `<module index>.weight|bias` of the matching
   nn.Sequential, weights [out, in] (in_out weights transposed), same dtypes, bit-identical values.
2. If torch imports: the nn.Sequential described by the file's `modelkit.architecture` metadata is built and
   `load_state_dict(safetensors.torch.load_file(EXPORT), strict=True)` must succeed; with INPUT/OUTPUT (torch's own
   expected output for the reference model), its forward pass must reproduce OUTPUT.

Prints one JSON document with a result per file; exits 1 when any check fails. The Swift test
SafetensorsTorchInteropTests runs this live (MODELKIT_PYTHON); `--proof` writes the committed record
Fixtures/expected/safetensors/strict_load_result.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import load_file as numpy_load_file

NUMPY_DTYPE = {"float32": np.float32, "float16": np.float16, "float64": np.float64}
FORWARD_TOLERANCE = 1e-6


def parse_reference(path: Path) -> dict:
    def refuse_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{path}: duplicate key")
        return dict(pairs)
    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=refuse_duplicates)


def expected_state(reference: dict) -> dict[str, np.ndarray]:
    """The state_dict of the nn.Sequential matching the reference model: every layer is one module."""
    tensors = {}
    for tensor in reference["tensors"]:
        kind = NUMPY_DTYPE[tensor["dtype"]]
        values = np.array([kind(float(text)) for text in tensor["values"]], dtype=kind)
        tensors[tensor["name"]] = (tensor, values.reshape([int(d) for d in tensor["shape"]]))
    state = {}
    for index, layer in enumerate(reference["layers"]):
        if layer["kind"] != "dense":
            continue
        meta, weight = tensors[layer["parameters"]["weight"]]
        state[f"{index}.weight"] = np.ascontiguousarray(weight.T if meta["layout"] == "in_out" else weight)
        if "bias" in layer["parameters"]:
            state[f"{index}.bias"] = tensors[layer["parameters"]["bias"]][1]
    return state


def torch_sequential(torch, architecture: list):
    nn = torch.nn
    modules = []
    for element in architecture:
        kind = element["type"]
        if kind == "dense":
            modules.append(nn.Linear(element["in"], element["out"], bias=element.get("bias", True)))
            kind = element.get("activation", "none")
            if kind == "none":
                continue
        modules.append({
            "relu": lambda e: nn.ReLU(),
            "leaky_relu": lambda e: nn.LeakyReLU(e.get("alpha", 0.01)),
            "sigmoid": lambda e: nn.Sigmoid(),
            "tanh": lambda e: nn.Tanh(),
            "gelu": lambda e: nn.GELU(approximate=e.get("approximate", "none")),
            "silu": lambda e: nn.SiLU(),
            "softmax": lambda e: nn.Softmax(dim=-1),
            "log_softmax": lambda e: nn.LogSoftmax(dim=-1),
            "identity": lambda e: nn.Identity(),
            "dropout": lambda e: nn.Dropout(e.get("rate", 0.5)),
        }[kind](element))
    return nn.Sequential(*modules).eval()


def check(export: Path, reference_path: Path, inputs: Path | None, outputs: Path | None) -> dict:
    data = export.read_bytes()
    result = {"file": export.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
              "reference": reference_path.name, "problems": []}
    problems = result["problems"]
    loaded = numpy_load_file(str(export))
    with safe_open(str(export), framework="numpy") as handle:
        metadata = handle.metadata() or {}
    result["metadata_keys"] = sorted(metadata)
    expected = expected_state(parse_reference(reference_path))
    result["names"] = sorted(loaded)
    if sorted(loaded) != sorted(expected):
        problems.append(f"names {sorted(loaded)} != expected {sorted(expected)}")
    for name in sorted(set(loaded) & set(expected)):
        got, want = loaded[name], expected[name]
        if got.dtype != want.dtype or got.shape != want.shape:
            problems.append(f"{name}: {got.dtype} {list(got.shape)} != expected {want.dtype} {list(want.shape)}")
        elif not np.array_equal(got.view(np.uint8), want.view(np.uint8)):
            problems.append(f"{name}: values differ (max |difference| {np.abs(got.astype(np.float64) - want).max():.3g})")
    result["numpy_values_match"] = not problems
    try:
        import torch
        from safetensors.torch import load_file as torch_load_file
    except ImportError:
        result["torch"] = "not installed: strict load not checked"
        return result
    torch.set_num_threads(1)
    architecture = json.loads(metadata["modelkit.architecture"])
    model = torch_sequential(torch, architecture)
    try:
        keys = model.load_state_dict(torch_load_file(str(export)), strict=True)
        result["strict_load"] = "ok"
        result["missing_keys"], result["unexpected_keys"] = list(keys.missing_keys), list(keys.unexpected_keys)
    except RuntimeError as error:
        result["strict_load"] = "failed"
        problems.append(f"load_state_dict(strict=True): {str(error).splitlines()[0]}")
        return result
    result["torch_module"] = " → ".join(type(module).__name__ for module in model)
    if inputs is not None and outputs is not None:
        with torch.no_grad():
            produced = model(torch.from_numpy(np.load(inputs))).numpy()
        reference_output = np.load(outputs)
        difference = float(np.abs(produced.astype(np.float64) - reference_output).max())
        result["forward"] = {"input": inputs.name, "expected_output": outputs.name, "max_abs_difference": difference}
        if not difference <= FORWARD_TOLERANCE:
            problems.append(f"forward pass differs from {outputs.name} by {difference:.3g}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", nargs="+", action="append", required=True,
                        metavar="PATH", help="EXPORT REFERENCE [INPUT OUTPUT]")
    parser.add_argument("--proof", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    results = []
    for paths in arguments.check:
        if len(paths) not in (2, 4):
            parser.error("--check takes EXPORT REFERENCE [INPUT OUTPUT]")
        paths = [Path(p) for p in paths]
        results.append(check(paths[0], paths[1], *(paths[2:] if len(paths) == 4 else (None, None))))
    tools = {"safetensors": safetensors.__version__, "numpy": np.__version__}
    try:
        import torch
        tools["torch"] = torch.__version__.split("+")[0]
    except ImportError:
        pass
    document = {"checked_by": "Fixtures/generate/check_safetensors_export.py", "tools": tools,
                "ok": all(not r["problems"] for r in results), "results": results}
    text = json.dumps(document, indent=2) + "\n"
    if arguments.proof:
        arguments.proof.parent.mkdir(parents=True, exist_ok=True)
        arguments.proof.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0 if document["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
