#!/usr/bin/env python3
"""Writes the ONNX importer's extra fixtures: hand-built graph variants, torch's opset-17 exports, and a malformed corpus.

    /work/venv-gen/py/bin/python Fixtures/generate/onnx_fixtures.py

generate.py writes the main ONNX fixtures (torch's exports at opset 20). This script adds what they do not cover:

- Fixtures/models/onnx/variants/*.onnx: small graphs built with onnx.helper that use every attribute and spelling the
  importer maps (Gemm alpha/beta/transB/broadcast C, MatMul + Add in both orders, Transpose of a weight, opset 11
  softmax/dropout semantics, GELU and SiLU written out element by element, float16/bfloat16/float64 weights in
  raw_data and typed fields, external data, several outputs with an op of another domain on a side branch), plus
  torch 2.15's exports of the activation zoo at opset 17, where GELU has no op of its own and torch writes it out.
- Fixtures/expected/onnx/variants/<name>.input.npy and <name>.output.npy: onnxruntime's output on a seeded input
  (one thread). These are the values the Swift tests compare with, never ModelKit's own output.
- Fixtures/malformed/onnx/*.onnx: damaged or hostile files; README.md there lists what each one is.

Deterministic: fixed numpy seeds, no timestamps; two runs give identical bytes.
"""

from __future__ import annotations

import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VARIANTS = ROOT / "Fixtures" / "models" / "onnx" / "variants"
EXPECTED = ROOT / "Fixtures" / "expected" / "onnx" / "variants"
MALFORMED = ROOT / "Fixtures" / "malformed" / "onnx"
PINS = {"onnx": "1.23.2", "onnxruntime": "1.32.0", "numpy": "2.4.6"}
PRODUCER = "Fixtures/generate/onnx_fixtures.py"
BATCH = 5


def check_versions() -> None:
    found = {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}
    wrong = [f"{name} {found[name]} (pinned {PINS[name]})" for name in PINS if found[name] != PINS[name]]
    if wrong:
        sys.exit("error: " + "; ".join(wrong) + "; install Fixtures/generate/requirements.txt")


# ---------------------------------------------------------------------------------------------------------------------
# Building blocks


def weights(rng, *shape, gain=1.5) -> np.ndarray:
    """N(0, (gain/sqrt(fan_in))^2), so pre-activations reach both sides of every nonlinearity."""
    fan_in = shape[-1] if len(shape) > 1 else 1
    return (rng.standard_normal(shape) * gain / np.sqrt(fan_in)).astype(np.float32)


def init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array, name)


def const(name: str, value: float) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name, value_float=value)


def io(name: str, features: int, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, ["batch", features])


def model(name: str, nodes, initializers, inputs, outputs, opset: int, extra_opsets=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name=PRODUCER, producer_version="1")
    proto.ir_version = 8
    return proto


def run(path: Path, inputs: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return [np.asarray(r, dtype=np.float32) for r in session.run(outputs, {session.get_inputs()[0].name: inputs})]


def save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)


def write_variant(name: str, proto: onnx.ModelProto, inputs: np.ndarray, outputs=("output",), runnable=None,
                  check=True, **save) -> None:
    """Saves `proto` as variants/<name>.onnx and onnxruntime's outputs on `inputs` (of `runnable`, when the saved
    model itself cannot run in onnxruntime) as expected/onnx/variants/<name>[.<output>].output.npy."""
    path = VARIANTS / f"{name}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    if check:
        onnx.checker.check_model(proto)
    onnx.save_model(proto, str(path), **save)
    source = path
    if runnable is not None:
        source = VARIANTS / f".{name}.runnable.onnx"
        onnx.save_model(runnable, str(source))
    results = run(source, inputs, list(outputs))
    if runnable is not None:
        source.unlink()
    save_npy(EXPECTED / f"{name}.input.npy", inputs)
    for output, result in zip(outputs, results):
        suffix = "" if len(outputs) == 1 else f".{output}"
        save_npy(EXPECTED / f"{name}{suffix}.output.npy", result)
    print(f"  {path.relative_to(ROOT)}: {len(proto.graph.node)} nodes, outputs {[r.shape for r in results]}")


# ---------------------------------------------------------------------------------------------------------------------
# Valid variants


def gemm_attributes(rng) -> None:
    """Gemm with transB=0 and 1, alpha/beta != 1, C as [1, N], as a scalar, and absent; Softmax axis=1."""
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "c1"], ["h1"], name="fc1", alpha=0.5, beta=2.0, transB=0),
        helper.make_node("LeakyRelu", ["h1"], ["a1"], name="act1", alpha=0.2),
        helper.make_node("Gemm", ["a1", "w2", "c2"], ["h2"], name="fc2", transB=1),
        helper.make_node("Tanh", ["h2"], ["a2"], name="act2"),
        helper.make_node("Gemm", ["a2", "w3"], ["h3"], name="fc3", transB=1),
        helper.make_node("Softmax", ["h3"], ["output"], name="probs", axis=1),
    ]
    inits = [init("w1", weights(rng, 6, 5)), init("c1", weights(rng, 1, 5, gain=0.5)),
             init("w2", weights(rng, 4, 5)), init("c2", np.array(0.3, dtype=np.float32)),
             init("w3", weights(rng, 3, 4))]
    proto = model("gemm_attributes", nodes, inits, [io("input", 6)], [io("output", 3)], 13)
    write_variant("gemm_attributes", proto, rng.standard_normal((BATCH, 6)).astype(np.float32))


def matmul_add(rng) -> None:
    """MatMul + Add with the bias first, a Transpose of a stored [out, in] weight, a MatMul without bias."""
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["m1"], name="fc1/MatMul"),
        helper.make_node("Add", ["b1", "m1"], ["h1"], name="fc1/Add"),
        helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
        helper.make_node("Transpose", ["w2_out_in"], ["w2"], name="fc2/Transpose", perm=[1, 0]),
        helper.make_node("MatMul", ["a1", "w2"], ["m2"], name="fc2/MatMul"),
        helper.make_node("Add", ["m2", "b2"], ["h2"], name="fc2/Add"),
        helper.make_node("Sigmoid", ["h2"], ["a2"], name="act2"),
        helper.make_node("MatMul", ["a2", "w3"], ["h3"], name="fc3"),
        helper.make_node("LogSoftmax", ["h3"], ["output"], name="out", axis=-1),
    ]
    inits = [init("w1", weights(rng, 6, 5)), init("b1", weights(rng, 5, gain=0.5)),
             init("w2_out_in", weights(rng, 4, 5)), init("b2", weights(rng, 1, 4, gain=0.5)),
             init("w3", weights(rng, 4, 3))]
    proto = model("matmul_add", nodes, inits, [io("input", 6)], [io("output", 3)], 13)
    write_variant("matmul_add", proto, rng.standard_normal((BATCH, 6)).astype(np.float32))


def opset11(rng) -> None:
    """Opset 11: Flatten, Dropout's ratio as an attribute, Softmax's default axis (1, coerced to 2-D)."""
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["h1"], name="fc1", transB=1),
        helper.make_node("Dropout", ["h1"], ["d1", "mask"], name="drop", ratio=0.25),
        helper.make_node("Relu", ["d1"], ["a1"], name="act1"),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], name="fc2", transB=1),
        helper.make_node("Softmax", ["h2"], ["output"], name="probs"),
    ]
    inits = [init("w1", weights(rng, 5, 6)), init("b1", weights(rng, 5, gain=0.5)),
             init("w2", weights(rng, 3, 5)), init("b2", weights(rng, 3, gain=0.5))]
    proto = model("opset11", nodes, inits, [io("input", 6)], [io("output", 3)], 11)
    proto.ir_version = 6
    write_variant("opset11", proto, rng.standard_normal((BATCH, 6)).astype(np.float32))


def decomposed(rng) -> None:
    """GELU (exact and tanh) and SiLU written out in other spellings than torch's, then no-op Identity, Reshape,
    Cast."""
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["h1"], name="fc1", transB=1),
        # 0.5·x first, x·(1/√2) instead of x/√2, 1 + erf with the constant first.
        const("g1/half", 0.5), const("g1/rsqrt2", float(1 / np.sqrt(2))), const("g1/one", 1.0),
        helper.make_node("Mul", ["h1", "g1/half"], ["g1/h"], name="g1/MulHalf"),
        helper.make_node("Mul", ["h1", "g1/rsqrt2"], ["g1/s"], name="g1/MulScale"),
        helper.make_node("Erf", ["g1/s"], ["g1/e"], name="g1/Erf"),
        helper.make_node("Add", ["g1/one", "g1/e"], ["g1/a"], name="g1/Add"),
        helper.make_node("Mul", ["g1/h", "g1/a"], ["a1"], name="gelu1"),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], name="fc2", transB=1),
        # tanh approximation with Pow(x, 3) and a final Div by 2.
        helper.make_node("Pow", ["h2", "three"], ["g2/p"], name="g2/Pow"),
        helper.make_node("Mul", ["g2/p", "coefficient"], ["g2/t"], name="g2/Mul"),
        helper.make_node("Add", ["g2/t", "h2"], ["g2/i"], name="g2/Add"),
        helper.make_node("Mul", ["g2/i", "sqrt_2_over_pi"], ["g2/k"], name="g2/Scale"),
        helper.make_node("Tanh", ["g2/k"], ["g2/th"], name="g2/Tanh"),
        helper.make_node("Add", ["g2/th", "one"], ["g2/a"], name="g2/Add1"),
        helper.make_node("Mul", ["g2/a", "h2"], ["g2/m"], name="g2/MulX"),
        helper.make_node("Div", ["g2/m", "two"], ["a2"], name="gelu2"),
        helper.make_node("Gemm", ["a2", "w3", "b3"], ["h3"], name="fc3", transB=1),
        # SiLU with the Sigmoid as the Mul's first operand.
        helper.make_node("Sigmoid", ["h3"], ["s3"], name="silu/Sigmoid"),
        helper.make_node("Mul", ["s3", "h3"], ["a3"], name="silu"),
        helper.make_node("Identity", ["a3"], ["i3"], name="keep"),
        helper.make_node("Reshape", ["i3", "shape"], ["r3"], name="reshape"),
        helper.make_node("Cast", ["r3"], ["c3"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Gemm", ["c3", "w4", "b4"], ["output"], name="fc4", transB=1),
    ]
    inits = [init("w1", weights(rng, 8, 6)), init("b1", weights(rng, 8, gain=0.5)),
             init("w2", weights(rng, 7, 8)), init("b2", weights(rng, 7, gain=0.5)),
             init("w3", weights(rng, 6, 7)), init("b3", weights(rng, 6, gain=0.5)),
             init("w4", weights(rng, 3, 6)), init("b4", weights(rng, 3, gain=0.5)),
             init("three", np.array(3.0, dtype=np.float32)), init("coefficient", np.array(0.044715, dtype=np.float32)),
             init("sqrt_2_over_pi", np.array(np.sqrt(2 / np.pi), dtype=np.float32)),
             init("one", np.array(1.0, dtype=np.float32)), init("two", np.array(2.0, dtype=np.float32)),
             init("shape", np.array([0, -1], dtype=np.int64))]
    proto = model("decomposed", nodes, inits, [io("input", 6)], [io("output", 3)], 17)
    write_variant("decomposed", proto, (2 * rng.standard_normal((BATCH, 6))).astype(np.float32))


def dtypes(rng) -> None:
    """Weights stored as float16 (raw_data), bfloat16 (int32_data, the typed field), float64 (double_data) and a
    float32 bias in float_data, each Cast to float before use."""
    w1 = weights(rng, 5, 6).astype(np.float16)
    w2 = weights(rng, 5, 4)  # [in, out] for MatMul, then rounded to bfloat16
    w2_bits = (w2.view(np.uint32) + 0x7FFF + ((w2.view(np.uint32) >> 16) & 1)) >> 16  # round to nearest even
    w3 = weights(rng, 4, 3).astype(np.float64)  # [in, out]: transB=0
    b1 = weights(rng, 5, gain=0.5)
    b3 = weights(rng, 3, gain=0.5).astype(np.float64)
    bf16 = TensorProto(name="w2_bf16", data_type=TensorProto.BFLOAT16, dims=[5, 4])
    bf16.int32_data.extend(int(v) for v in w2_bits.flatten())  # ONNX keeps bfloat16 bits one per int32
    f64 = helper.make_tensor("w3_f64", TensorProto.DOUBLE, [4, 3], w3.flatten().tolist())
    bias_typed = helper.make_tensor("b1_typed", TensorProto.FLOAT, [5], b1.tolist())
    bias64 = helper.make_tensor("b3_f64", TensorProto.DOUBLE, [3], b3.tolist())
    nodes = [
        helper.make_node("Cast", ["w1_f16"], ["w1"], name="w1/Cast", to=TensorProto.FLOAT),
        helper.make_node("Gemm", ["input", "w1", "b1_typed"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
        helper.make_node("Cast", ["w2_bf16"], ["w2"], name="w2/Cast", to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["a1", "w2"], ["h2"], name="fc2"),
        helper.make_node("Tanh", ["h2"], ["a2"], name="act2"),
        helper.make_node("Cast", ["w3_f64"], ["w3"], name="w3/Cast", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["b3_f64"], ["b3"], name="b3/Cast", to=TensorProto.FLOAT),
        helper.make_node("Gemm", ["a2", "w3", "b3"], ["output"], name="fc3", transB=0),
    ]
    inits = [init("w1_f16", w1), bf16, f64, bias_typed, bias64]
    proto = model("dtypes", nodes, inits, [io("input", 6)], [io("output", 3)], 13)
    assert not proto.graph.initializer[1].raw_data and not proto.graph.initializer[2].raw_data
    write_variant("dtypes", proto, rng.standard_normal((BATCH, 6)).astype(np.float32))
    # The values the typed fields hold, as numpy reads them, for an exact check of the decoding.
    save_npy(EXPECTED / "dtypes.w2_bf16.npy", (w2_bits.astype(np.uint32) << 16).view(np.float32))
    with open(EXPECTED / "dtypes.w3_f64.npy", "wb") as handle:
        np.save(handle, numpy_helper.to_array(f64), allow_pickle=False)


def external(rng) -> None:
    """Every initializer in one external file next to the model (onnx.save_model's external data)."""
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
        helper.make_node("Gemm", ["a1", "fc2.weight", "fc2.bias"], ["output"], name="fc2", transB=1),
    ]
    inits = [init("fc1.weight", weights(rng, 5, 6)), init("fc1.bias", weights(rng, 5, gain=0.5)),
             init("fc2.weight", weights(rng, 3, 5)), init("fc2.bias", weights(rng, 3, gain=0.5))]
    proto = model("external", nodes, inits, [io("input", 6)], [io("output", 3)], 13)
    onnx.checker.check_model(proto)
    folder = VARIANTS / "external"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    inputs = rng.standard_normal((BATCH, 6)).astype(np.float32)
    path = folder / "model.onnx"
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    (result,) = run(path, inputs, ["output"])
    save_npy(EXPECTED / "external.input.npy", inputs)
    save_npy(EXPECTED / "external.output.npy", result)
    print(f"  {path.relative_to(ROOT)} + weights.bin ({(folder / 'weights.bin').stat().st_size} bytes)")


def multi_output(rng) -> None:
    """Outputs label (int64, ArgMax), probs, logits and aux (an op of another domain on a side branch)."""
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["logits"], name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
        helper.make_node("ArgMax", ["probs"], ["label"], name="argmax", axis=1, keepdims=0),
        helper.make_node("Scale", ["a1"], ["aux"], name="aux", domain="org.example", factor=2.0),
    ]
    inits = [init("w1", weights(rng, 5, 6)), init("b1", weights(rng, 5, gain=0.5)),
             init("w2", weights(rng, 3, 5)), init("b2", weights(rng, 3, gain=0.5))]
    outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]), io("probs", 3),
               io("logits", 3), io("aux", 5)]
    proto = model("multi_output", nodes, inits, [io("input", 6)], outputs, 13, extra_opsets=[("org.example", 1)])
    # onnxruntime cannot run org.example::Scale: the expected values come from the same graph without that branch.
    runnable = onnx.ModelProto()
    runnable.CopyFrom(proto)
    del runnable.graph.node[5]
    del runnable.graph.output[3]
    del runnable.opset_import[1]
    onnx.checker.check_model(runnable)
    write_variant("multi_output", proto, rng.standard_normal((BATCH, 6)).astype(np.float32),
                  outputs=("probs", "logits"), runnable=runnable, check=False)


def torch_opset17() -> None:
    """torch's exports of the activation zoo at opset 17 (no Gelu op: both exporters write GELU out)."""
    sys.path.insert(0, str(HERE))
    import generate  # noqa: E402  (the zoo is defined there)
    torch = generate.make_deterministic()
    warnings.filterwarnings("ignore")
    zoo = generate.build_zoo(torch, "log_softmax")
    inputs = np.load(ROOT / "Fixtures" / "expected" / "zoo" / "batch7.input.npy")
    for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
        name = f"zoo_{exporter}_opset17"
        path = VARIANTS / f"{name}.onnx"
        example = (torch.from_numpy(inputs),)
        if dynamo:
            torch.onnx.export(zoo, example, str(path), dynamo=True, input_names=["input"], output_names=["output"],
                              opset_version=17, dynamic_shapes=({0: torch.export.Dim("batch")},),
                              external_data=False, verbose=False)
            proto = onnx.load(str(path))
            generate.strip_stack_traces(proto)
            onnx.save_model(proto, str(path))
        else:
            torch.onnx.export(zoo, example, str(path), dynamo=False, input_names=["input"], output_names=["output"],
                              opset_version=17, dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        (result,) = run(path, inputs, ["output"])
        reference = generate.run_torch(torch, zoo, inputs)
        difference = float(np.abs(result - reference).max())
        if difference > 1e-5:
            sys.exit(f"error: onnxruntime's output of {name} differs from torch's by {difference:.3g}")
        save_npy(EXPECTED / f"{name}.output.npy", result)
        ops = [node.op_type for node in proto.graph.node]
        print(f"  {path.relative_to(ROOT)}: {len(ops)} nodes ({', '.join(sorted(set(ops)))}); |ort - torch| "
              f"{difference:.2g}")


def torch_flatten() -> None:
    """An MLP over [batch, 3, 4] "images" that starts with nn.Flatten, as both torch exporters write it: TorchScript
    as Flatten(axis=1), dynamo as Reshape(x, [batch, 12]); and its state dict, whose Linear weights are '1.weight'
    and '3.weight' because the Flatten is module 0."""
    sys.path.insert(0, str(HERE))
    import generate  # noqa: E402
    torch = generate.make_deterministic()
    warnings.filterwarnings("ignore")
    torch.manual_seed(21)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
                              torch.nn.Softmax(dim=1)).eval()
    inputs = np.random.default_rng(21).standard_normal((5, 3, 4)).astype(np.float32)
    with torch.no_grad():
        reference = net(torch.from_numpy(inputs)).numpy()
    save_npy(EXPECTED / "flatten.input.npy", inputs)
    save_npy(EXPECTED / "flatten.output.npy", reference)
    torch.save(net.state_dict(), str(VARIANTS / "flatten_state_dict.pt"))
    for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
        name = f"flatten_{exporter}"
        path = VARIANTS / f"{name}.onnx"
        example = (torch.from_numpy(inputs),)
        if dynamo:
            torch.onnx.export(net, example, str(path), dynamo=True, input_names=["input"], output_names=["output"],
                              opset_version=17, external_data=False, verbose=False)
            proto = onnx.load(str(path))
            generate.strip_stack_traces(proto)
            onnx.save_model(proto, str(path))
        else:
            torch.onnx.export(net, example, str(path), dynamo=False, input_names=["input"], output_names=["output"],
                              opset_version=17, dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        (result,) = run(path, inputs, ["output"])
        difference = float(np.abs(result - reference).max())
        if difference > 1e-5:
            sys.exit(f"error: onnxruntime's output of {name} differs from torch's by {difference:.3g}")
        ops = [node.op_type for node in proto.graph.node]
        print(f"  {path.relative_to(ROOT)}: {', '.join(ops)}; |ort - torch| {difference:.2g}")


# ---------------------------------------------------------------------------------------------------------------------
# Malformed corpus


def base_model() -> onnx.ModelProto:
    rng = np.random.default_rng(99)
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="act1"),
        helper.make_node("Gemm", ["a1", "fc2.weight", "fc2.bias"], ["output"], name="fc2", transB=1),
    ]
    inits = [init("fc1.weight", weights(rng, 5, 6)), init("fc1.bias", weights(rng, 5)),
             init("fc2.weight", weights(rng, 3, 5)), init("fc2.bias", weights(rng, 3))]
    return model("base", nodes, inits, [io("input", 6)], [io("output", 3)], 13)


def variant_of_base(edit) -> onnx.ModelProto:
    proto = base_model()
    edit(proto)
    return proto


def set_external(tensor: TensorProto, location: str, offset: int | None = None, length: int | None = None) -> None:
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for key, value in entries:
        tensor.external_data.add(key=key, value=value)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def deep_nesting(levels: int) -> bytes:
    """ModelProto{ir_version 8, graph: GraphProto{node: NodeProto{attribute: {name g, g: GraphProto{...}}}}}."""
    graph = b""
    for _ in range(levels):
        attribute = field(1, b"g") + varint(20 << 3) + varint(5) + field(6, graph)
        node = field(4, b"If") + field(5, attribute)
        graph = field(1, node)
    return varint(1 << 3) + varint(8) + field(7, graph)


MALFORMED_FILES: list[tuple[str, str]] = []


def write_malformed(name: str, data: bytes | onnx.ModelProto, what: str) -> None:
    if isinstance(data, onnx.ModelProto):
        data = data.SerializeToString()
    (MALFORMED / name).write_bytes(data)
    MALFORMED_FILES.append((name, what))


def malformed() -> None:
    MALFORMED.mkdir(parents=True, exist_ok=True)
    for stale in MALFORMED.iterdir():
        stale.unlink()
    good = base_model().SerializeToString()
    write_malformed("empty.onnx", b"", "zero bytes")
    write_malformed("truncated.onnx", good[: len(good) * 6 // 10], f"the base model cut at {len(good) * 6 // 10} of "
                    f"{len(good)} bytes (inside an initializer)")
    write_malformed("random-bytes.onnx", np.random.default_rng(1).integers(0, 256, 1024, dtype=np.uint8).tobytes(),
                    "1024 random bytes (numpy default_rng(1))")
    no_graph = onnx.ModelProto(ir_version=8, producer_name="nothing")
    write_malformed("no-graph.onnx", no_graph, "a valid ModelProto without a graph")
    write_malformed("deep-nesting.onnx", deep_nesting(300), "graphs nested 300 deep through If attributes "
                    "(protobuf message depth 1200)")
    write_malformed("external-parent-path.onnx",
                    variant_of_base(lambda p: set_external(p.graph.initializer[0], "../../etc/passwd")),
                    "fc1.weight stored externally at ../../etc/passwd")
    write_malformed("external-absolute-path.onnx",
                    variant_of_base(lambda p: set_external(p.graph.initializer[0], "/etc/passwd")),
                    "fc1.weight stored externally at /etc/passwd")
    write_malformed("external-offset-past-end.onnx",
                    variant_of_base(lambda p: set_external(p.graph.initializer[0], "external-offset-past-end.bin",
                                                           offset=4096, length=120)),
                    "fc1.weight at offset 4096 of external-offset-past-end.bin (64 bytes)")
    (MALFORMED / "external-offset-past-end.bin").write_bytes(bytes(64))
    MALFORMED_FILES.append(("external-offset-past-end.bin", "64 zero bytes, the data file of the previous one"))
    write_malformed("external-missing-file.onnx",
                    variant_of_base(lambda p: set_external(p.graph.initializer[0], "missing-weights.bin")),
                    "fc1.weight in missing-weights.bin, which does not exist")

    def raw_size(proto):
        proto.graph.initializer[0].raw_data = bytes(100)  # dims [5, 6] float32 need 120

    write_malformed("raw-data-size-mismatch.onnx", variant_of_base(raw_size),
                    "fc1.weight dims [5, 6] float32 (120 bytes) with 100 bytes of raw_data")

    def dims_overflow(proto):
        tensor = proto.graph.initializer[0]
        del tensor.dims[:]
        tensor.dims.extend([1 << 40, 1 << 40])
        tensor.raw_data = bytes(16)

    write_malformed("dims-overflow.onnx", variant_of_base(dims_overflow),
                    "fc1.weight dims [2^40, 2^40]: the element count overflows 64 bits")

    def huge_dims(proto):
        tensor = proto.graph.initializer[0]
        del tensor.dims[:]
        tensor.dims.extend([1 << 20, 1 << 18])
        tensor.raw_data = bytes(16)

    write_malformed("huge-dims.onnx", variant_of_base(huge_dims),
                    "fc1.weight dims [2^20, 2^18] float32 (1 TiB) with 16 bytes of raw_data")

    def huge_typed(proto):
        tensor = proto.graph.initializer[0]
        tensor.ClearField("raw_data")
        del tensor.dims[:]
        tensor.dims.extend([1 << 20, 1 << 18])
        tensor.float_data.extend([1.0, 2.0, 3.0])

    write_malformed("huge-dims-typed.onnx", variant_of_base(huge_typed),
                    "fc1.weight dims [2^20, 2^18] float32 with 3 values in float_data")

    def negative_dims(proto):
        tensor = proto.graph.initializer[0]
        del tensor.dims[:]
        tensor.dims.extend([-1, 6])

    write_malformed("negative-dims.onnx", variant_of_base(negative_dims), "fc1.weight dims [-1, 6]")

    def typed_count(proto):
        tensor = proto.graph.initializer[1]
        tensor.ClearField("raw_data")
        tensor.float_data.extend([1.0, 2.0, 3.0])

    write_malformed("typed-count-mismatch.onnx", variant_of_base(typed_count),
                    "fc1.bias dims [5] with 3 values in float_data")

    def no_data(proto):
        proto.graph.initializer[1].ClearField("raw_data")

    write_malformed("initializer-without-data.onnx", variant_of_base(no_data), "fc1.bias dims [5] with no data")

    def string_weight(proto):
        tensor = proto.graph.initializer[0]
        tensor.ClearField("raw_data")
        tensor.data_type = TensorProto.STRING
        tensor.string_data.extend([b"x"] * 30)

    write_malformed("string-weight.onnx", variant_of_base(string_weight), "fc1.weight is a string tensor")

    def unsupported(proto):
        proto.graph.node[1].op_type = "Conv"
        proto.graph.node[1].name = "conv"

    write_malformed("unsupported-op.onnx", variant_of_base(unsupported), "act1 is a Conv")

    def trans_a(proto):
        proto.graph.node[0].attribute.append(helper.make_attribute("transA", 1))

    write_malformed("gemm-transa.onnx", variant_of_base(trans_a), "fc1 has transA=1")

    def residual(proto):
        # output = fc2(relu(fc1(x)) + fc_skip(x)): two paths from the input meet at an Add.
        rng = np.random.default_rng(5)
        proto.graph.initializer.extend([init("skip.weight", weights(rng, 5, 6))])
        proto.graph.node[1].output[0] = "a1_main"
        proto.graph.node.insert(2, helper.make_node("Gemm", ["input", "skip.weight"], ["skip"], name="skip",
                                                    transB=1))
        proto.graph.node.insert(3, helper.make_node("Add", ["a1_main", "skip"], ["a1"], name="residual"))

    write_malformed("non-chain.onnx", variant_of_base(residual), "a skip connection: two paths meet at an Add")

    def two_inputs(proto):
        proto.graph.input.append(io("mask", 5))
        proto.graph.node.insert(2, helper.make_node("Mul", ["a1_raw", "mask"], ["a1"], name="masking"))
        proto.graph.node[1].output[0] = "a1_raw"

    write_malformed("two-inputs.onnx", variant_of_base(two_inputs), "the output depends on inputs input and mask")

    def duplicate(proto):
        proto.graph.node[1].output[0] = "h1"

    write_malformed("duplicate-producer.onnx", variant_of_base(duplicate), "fc1 and act1 both produce h1")

    def missing_value(proto):
        proto.graph.node[2].input[0] = "nowhere"

    write_malformed("dangling-input.onnx", variant_of_base(missing_value), "fc2 reads a value nothing produces")

    lines = ["# Malformed ONNX files", "",
             f"Written by `{PRODUCER}` (do not edit by hand). Each must give ModelKit a one-line error, never a crash;",
             "Tests/ModelKitInteropTests/ONNX/ONNXMalformedTests.swift checks every file listed here. The base model is",
             "`input [batch, 6] → fc1 Gemm → act1 Relu → fc2 Gemm → output [batch, 3]` (opset 13).", "",
             "| file | what is wrong |", "|---|---|"]
    lines += [f"| `{name}` | {what} |" for name, what in MALFORMED_FILES]
    (MALFORMED / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"  {len(MALFORMED_FILES)} files in {MALFORMED.relative_to(ROOT)}")


VARIANTS_README = """# ONNX variants

Written by `Fixtures/generate/onnx_fixtures.py` (do not edit by hand). onnxruntime 1.32's outputs (one thread) on
the seeded inputs are in `Fixtures/expected/onnx/variants/<name>.input.npy` and `<name>[.<output>].output.npy`.

| file | what it exercises |
|---|---|
| `gemm_attributes.onnx` | opset 13: `Gemm` transB=0 with alpha 0.5, beta 2 and C `[1, 5]`; `LeakyRelu(0.2)`; `Gemm` transB=1 with a scalar C; `Tanh`; `Gemm` without C; `Softmax(axis=1)` |
| `matmul_add.onnx` | opset 13: `MatMul` + `Add(bias, ·)`; `MatMul(x, Transpose(W))` + `Add(·, [1, 4] bias)`; `Sigmoid`; `MatMul` without bias; `LogSoftmax` |
| `opset11.onnx` | opset 11, IR 6: `Flatten`, `Dropout` with its `ratio` attribute and a mask output, `Softmax` without axis (1) |
| `decomposed.onnx` | opset 17: exact GELU as `0.5·x · (1 + Erf(x·(1/√2)))` with `Constant` nodes, tanh GELU with `Pow(x, 3)` and a final `Div` by 2, SiLU as `Mul(Sigmoid(x), x)`, then `Identity`, `Reshape [0, -1]`, `Cast` to float |
| `dtypes.onnx` | weights float16 (`raw_data`), bfloat16 (`int32_data`), float64 (`double_data`), a float32 bias in `float_data`, each `Cast` to float (`dtypes.w2_bf16.npy`, `dtypes.w3_f64.npy`: the stored values as numpy reads them) |
| `external/model.onnx` | every initializer in `external/weights.bin` (onnx.save_model external data) |
| `multi_output.onnx` | outputs `label` (int64 `ArgMax`), `probs`, `logits`, `aux` (`org.example::Scale`, which onnxruntime cannot run: the expected values come from the same graph without that branch) |
| `flatten_torchscript.onnx`, `flatten_dynamo.onnx`, `flatten_state_dict.pt` | torch 2.15's exports of `Sequential(Flatten(), Linear(12, 8), ReLU(), Linear(8, 3), Softmax(1))` over `[batch, 3, 4]` inputs: `Flatten(axis=1)` (TorchScript), `Reshape(input, [5, 12])` with a fixed batch (dynamo); the state dict (`1.weight`, `3.weight`); expected: torch's outputs on `flatten.input.npy` |
| `zoo_torchscript_opset17.onnx`, `zoo_dynamo_opset17.onnx` | torch 2.15's exports of the activation zoo at opset 17, where GELU is written out (`Div`, `Erf`, `Add`, `Mul`, `Mul`; tanh GELU with `Mul`s or `Pow`); expected on `Fixtures/expected/zoo/batch7.input.npy` |
"""


def main() -> None:
    check_versions()
    VARIANTS.mkdir(parents=True, exist_ok=True)
    EXPECTED.mkdir(parents=True, exist_ok=True)
    print("ONNX variants (onnx.helper) and onnxruntime outputs")
    gemm_attributes(np.random.default_rng(11))
    matmul_add(np.random.default_rng(12))
    opset11(np.random.default_rng(13))
    decomposed(np.random.default_rng(14))
    dtypes(np.random.default_rng(15))
    external(np.random.default_rng(16))
    multi_output(np.random.default_rng(17))
    (VARIANTS / "README.md").write_text(VARIANTS_README, encoding="utf-8")
    print("torch exports at opset 17")
    torch_opset17()
    torch_flatten()
    print("malformed corpus")
    malformed()


if __name__ == "__main__":
    main()
