"""ModelKit JSON form (Specs/format.md sections 3 and 5): writing, checking and evaluating, for the fixture generator.

Kept apart from generate.py so the rules we check are in one place and free of torch: this module needs only numpy.

Why our own writer instead of json.dumps: J2 wants every float as the shortest decimal that reads back to the same
value *of the tensor's dtype* (float32 or float16), which Python's float repr (shortest for float64) does not give.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import numpy as np

# Specs/format.md H3, with element sizes.
DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
          "uint8": 1, "bool": 1}
# The layer kinds of Sources/ModelKitCore/LayerKind.swift (Specs/format.md section 4 points to Specs/layers.md).
LAYER_KINDS = {"dense", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "log_softmax",
               "identity", "dropout"}
LAYOUTS = {"in_out", "out_in"}
LAYOUT_SOURCES = {"shape", "convention", "declared"}
NUMPY_FLOAT = {"float32": np.float32, "float16": np.float16}
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
LINE_WIDTH = 118
INDENT = 2


class FloatValues:
    """A flat list of float values already rendered as text; the writer packs them into lines."""

    def __init__(self, texts: list[str]):
        self.texts = texts


def float_texts(array: np.ndarray, dtype: str) -> FloatValues:
    """The shortest round-tripping decimal of every element of `array` (row-major), for `dtype` (J2).

    numpy's `str` of a float32/float16 scalar is its shortest unique decimal (Dragon4); every text is then checked
    exactly, so a formatting slip fails here and not in a Swift test.
    """
    kind = NUMPY_FLOAT[dtype]
    flat = np.ascontiguousarray(array, dtype=kind).reshape(-1)
    if not np.all(np.isfinite(flat)):
        raise ValueError("fixture values must be finite (this generator never writes \"nan\"/\"inf\")")
    texts = [str(value) for value in flat]
    for index, (text, value) in enumerate(zip(texts, flat)):
        problem = round_trip_problem(text, value, dtype)
        if problem:
            raise ValueError(f"value {index} ({value!r}) written as {text!r}: {problem}")
    return FloatValues(texts)


def round_trip_problem(text: str, value, dtype: str) -> str | None:
    """Why `text` does not read back as exactly `value` in `dtype`, or None.

    Checked three ways: exact rational arithmetic (round to nearest, ties to even, as J2 requires of a reader),
    numpy's own parse, and parsing to float32 first (what a reader that has no float16 parser does; a double
    rounding there would make the fixture ambiguous, so we refuse such a text).
    """
    kind = NUMPY_FLOAT[dtype]
    value = kind(value)
    if not JSON_NUMBER.match(text):
        return "not a JSON number"
    if not exactly_rounds_to(text, value, kind):
        return "does not round (nearest-even) to the value"
    parsed = kind(float(text))
    if parsed.tobytes() != value.tobytes():
        return "numpy reads it back as a different value"
    via32 = kind(np.float32(text))
    if via32.tobytes() != value.tobytes():
        return "reading it as float32 first gives a different value (double rounding)"
    return None


def exactly_rounds_to(text: str, value, kind) -> bool:
    """Whether the decimal `text` rounds to nearest-even to exactly `value` of the float type `kind`."""
    negative_text = text.startswith("-")
    if value == 0:
        return Fraction(text) == 0 and negative_text == bool(np.signbit(value))
    decimal = Fraction(text)
    exact = Fraction(float(value))
    below = np.nextafter(value, kind(-np.inf))
    above = np.nextafter(value, kind(np.inf))
    if not (np.isfinite(below) and np.isfinite(above)):
        return False  # the largest finite values never occur in our fixtures; refuse rather than reason about them
    low_mid = (Fraction(float(below)) + exact) / 2
    high_mid = (exact + Fraction(float(above))) / 2
    if low_mid < decimal < high_mid:
        return True
    bits = int(value.view(np.uint32 if kind is np.float32 else np.uint16))
    return (decimal == low_mid or decimal == high_mid) and bits % 2 == 0


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def render(value, level: int = 0) -> str:
    """Deterministic JSON text laid out exactly as ModelKit's own writer lays it out (JSONWriter, indent 2, line
    width 118): objects one key per line; lists of at most 8 scalars inline; longer scalar lists (tensor values)
    packed to the line width. So a float32 model read and rewritten by ModelKit gives the same bytes back."""
    pad = " " * (INDENT * level)
    margin = INDENT * (level + 1)
    if isinstance(value, FloatValues):
        value = [_Raw(text) for text in value.texts]
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [" " * margin + f"{json.dumps(key)}: {render(item, level + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        scalars = all(not isinstance(item, (dict, list, FloatValues)) for item in value)
        if scalars and len(value) <= 8:
            return "[" + ", ".join(render(item) for item in value) + "]"
        if not scalars:
            return "[\n" + ",\n".join(" " * margin + render(item, level + 1) for item in value) + "\n" + pad + "]"
        output, line_length = "[", margin
        for index, item in enumerate(value):
            text = render(item)
            if index == 0 or line_length + len(text) + 2 > LINE_WIDTH:
                output += ("," if index > 0 else "") + "\n" + " " * margin
                line_length = margin
            else:
                output += ", "
            output += text
            line_length += len(text) + 2
        return output + "\n" + pad + "]"
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, float):
        # Attribute values (alpha, rate) are JSON doubles: Python's repr is the shortest float64 text.
        if not math.isfinite(value):
            raise ValueError("attribute values must be finite")
        return repr(value)
    return json.dumps(value)


class _Raw(str):
    """A number's text, written as is."""


def write_json(path, document) -> None:
    text = render(document) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def tensor_entry(name: str, array: np.ndarray, dtype: str, layout: str | None = None,
                 layout_source: str | None = None) -> dict:
    """One tensor of the JSON form (J1): the header keys in the writer's order, then the values."""
    entry = {"name": name, "dtype": dtype, "shape": list(array.shape)}
    if layout is not None:
        entry["layout"] = layout
        entry["layout_source"] = layout_source
    entry["encoding"] = "raw"
    entry["values"] = float_texts(array, dtype)
    return entry


def layer_entry(name: str, kind: str, attributes: dict | None = None, weight: str | None = None,
                bias: str | None = None) -> dict:
    parameters = {}
    if bias is not None:
        parameters["bias"] = bias  # sorted role order, as ModelKit's writer emits them
    if weight is not None:
        parameters["weight"] = weight
    return {"name": name, "kind": kind, "attributes": attributes or {}, "parameters": parameters}


# ---------------------------------------------------------------------------------------------------------------------
# Checking a written file against Specs/format.md sections 3 and 5


class SpecViolation(Exception):
    pass


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise SpecViolation(f"duplicate keys {duplicates} (section 3)")
    return dict(pairs)


def _refuse_constant(name):
    raise SpecViolation(f"bare {name} is not JSON (J2 wants the strings \"nan\"/\"inf\")")


def parse_strict(path) -> dict:
    """Parses a JSON file keeping every number's text, refusing duplicate keys and NaN/Infinity literals."""
    with open(path, "rb") as handle:
        raw = handle.read()
    text = raw.decode("utf-8")  # invalid UTF-8 raises
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_float=NumberText,
                      parse_int=NumberText, parse_constant=_refuse_constant)


class NumberText(str):
    """A JSON number kept as its text."""


def _depth(value, level=1) -> int:
    if isinstance(value, dict):
        return max([level] + [_depth(item, level + 1) for item in value.values()])
    if isinstance(value, list):
        return max([level] + [_depth(item, level + 1) for item in value])
    return level


def check_model_file(path) -> dict:
    """Checks every rule of sections 3 and 5 that applies to a JSON-form model; returns a summary.

    Raises SpecViolation naming the rule. Also checks that the dense chain fits (each weight's `in` matches the
    features flowing in), which is what layout/layout_source claim.
    """
    document = parse_strict(path)

    def need(condition, message):
        if not condition:
            raise SpecViolation(f"{path}: {message}")

    need(isinstance(document, dict), "top level is not an object")
    need(_depth(document) <= 64, "nested deeper than 64 levels (section 3)")
    need(document.get("format") == "modelkit-json", "\"format\" is not \"modelkit-json\" (J1)")
    need(document.get("version") == "1.0", "\"version\" is not \"1.0\" (V2)")
    need("data_size" not in document, "the JSON form has no data_size (J1)")
    for key in ("model", "layers", "tensors"):
        need(key in document, f"missing {key!r} (H1)")
    model = document["model"]
    need(isinstance(model, dict), "model is not an object")
    for key in ("name", "producer", "source_format", "input", "metadata"):
        need(key in model, f"model is missing {key!r}")
    shape = model["input"].get("shape")
    need(isinstance(shape, list) and len(shape) == 2 and shape[0] is None and isinstance(shape[1], NumberText),
         "a dense network's input shape is [null, features] (H7)")
    need(model["input"].get("dtype") in DTYPES, "model.input.dtype is not a known dtype (H3)")
    need(isinstance(model["metadata"], dict) and all(isinstance(v, str) and not isinstance(v, NumberText)
                                                     for v in model["metadata"].values()),
         "model.metadata values must be strings (H9)")

    tensors = {}
    for index, tensor in enumerate(document["tensors"]):
        need(isinstance(tensor, dict), f"tensors[{index}] is not an object")
        for key in ("name", "dtype", "shape", "encoding", "values"):
            need(key in tensor, f"tensors[{index}] is missing {key!r} (H1, J1)")
        for key in ("offset", "length", "crc32"):
            need(key not in tensor, f"tensor {tensor['name']!r} has {key!r}, which the JSON form replaces by values (J1)")
        name = tensor["name"]
        need(isinstance(name, str) and name != "", f"tensors[{index}] needs a non-empty name (H2)")
        need(name not in tensors, f"tensor name {name!r} is used twice (H2)")
        need(tensor["dtype"] in NUMPY_FLOAT, f"tensor {name!r}: dtype {tensor['dtype']!r} is not one this generator writes (H3)")
        dims = tensor["shape"]
        need(isinstance(dims, list) and len(dims) <= 8 and all(isinstance(d, NumberText) and int(d) >= 0 for d in dims),
             f"tensor {name!r}: shape must be at most 8 non-negative integers (H4)")
        dims = [int(d) for d in dims]
        need(tensor["encoding"] == "raw", f"tensor {name!r}: encoding must be raw in 1.0 (H5)")
        values = tensor["values"]
        count = math.prod(dims)
        need(isinstance(values, list) and len(values) == count,
             f"tensor {name!r}: {len(values)} values for shape {dims} (J3)")
        kind = NUMPY_FLOAT[tensor["dtype"]]
        parsed = np.empty(count, dtype=kind)
        for position, text in enumerate(values):
            need(isinstance(text, NumberText), f"tensor {name!r} value {position} is not a number (J2)")
            parsed[position] = kind(float(text))
            problem = round_trip_problem(text, parsed[position], tensor["dtype"])
            need(problem is None, f"tensor {name!r} value {position} {text!r}: {problem} (J2)")
            need(text == str(parsed[position]), f"tensor {name!r} value {position} {text!r} is not the shortest text (J2)")
        if "layout" in tensor and tensor["layout"] is not None:
            need(tensor["layout"] in LAYOUTS, f"tensor {name!r}: unknown layout (H6)")
            need(tensor.get("layout_source") in LAYOUT_SOURCES, f"tensor {name!r}: unknown layout_source (H6)")
            need(len(dims) == 2, f"tensor {name!r}: a layout belongs to a 2-D weight (H6)")
            need(not (dims[0] == dims[1] and tensor["layout_source"] == "shape"),
                 f"tensor {name!r}: a square weight fits both orientations, so its layout_source cannot be 'shape' (H6)")
        tensors[name] = (tensor, parsed.reshape(dims))

    layer_names = set()
    used = set()
    features = int(shape[1])
    dense_layers = 0
    for index, layer in enumerate(document["layers"]):
        need(isinstance(layer, dict) and "name" in layer and "kind" in layer, f"layers[{index}] needs name and kind (H1)")
        name = layer["name"]
        need(isinstance(name, str) and name != "", f"layers[{index}] needs a non-empty name (H2)")
        need(name not in layer_names, f"layer name {name!r} is used twice (H2)")
        layer_names.add(name)
        need(layer["kind"] in LAYER_KINDS, f"layer {name!r}: unknown kind {layer['kind']!r} (section 4)")
        parameters = layer.get("parameters", {})
        for role, tensor_name in parameters.items():
            need(tensor_name in tensors, f"layer {name!r} names tensor {tensor_name!r}, which does not exist (H2)")
            used.add(tensor_name)
        if layer["kind"] == "dense":
            dense_layers += 1
            weight, _ = tensors[parameters["weight"]]
            need(weight.get("layout") in LAYOUTS, f"dense layer {name!r}: its weight needs a layout (H6)")
            rows, cols = (int(d) for d in weight["shape"])
            inputs, outputs = (cols, rows) if weight["layout"] == "out_in" else (rows, cols)
            need(inputs == features, f"dense layer {name!r}: weight takes {inputs} features, {features} flow in")
            if "bias" in parameters:
                bias, _ = tensors[parameters["bias"]]
                need([int(d) for d in bias["shape"]] == [outputs], f"dense layer {name!r}: bias shape")
                need(bias.get("layout") is None, f"bias of {name!r} must not have a layout (H6)")
            features = outputs
        else:
            need(not parameters, f"layer {name!r} ({layer['kind']}) takes no parameters")
    parameter_count = sum(array.size for _, array in tensors.values())
    return {"layers": len(document["layers"]), "dense_layers": dense_layers, "tensors": len(tensors),
            "parameters": parameter_count, "output_features": features, "unused_tensors": sorted(set(tensors) - used)}


# ---------------------------------------------------------------------------------------------------------------------
# An independent float64 forward pass over the parsed file, so the file (layouts, transposes, float16) is checked
# against torch's numbers and not only against our own writer.

_erf = np.frompyfunc(math.erf, 1, 1)


def forward_float64(path, inputs: np.ndarray) -> np.ndarray:
    document = parse_strict(path)
    tensors = {}
    for tensor in document["tensors"]:
        kind = NUMPY_FLOAT[tensor["dtype"]]
        values = np.array([kind(float(text)) for text in tensor["values"]], dtype=kind)
        tensors[tensor["name"]] = (tensor, values.astype(np.float64).reshape([int(d) for d in tensor["shape"]]))
    x = inputs.astype(np.float64)
    for layer in document["layers"]:
        kind = layer["kind"]
        attributes = layer.get("attributes", {})
        if kind == "dense":
            meta, weight = tensors[layer["parameters"]["weight"]]
            x = x @ (weight.T if meta["layout"] == "out_in" else weight)
            if "bias" in layer["parameters"]:
                x = x + tensors[layer["parameters"]["bias"]][1]
        elif kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "leaky_relu":
            alpha = float(attributes.get("alpha", 0.01))
            x = np.where(x >= 0, x, alpha * x)
        elif kind == "sigmoid":
            x = 1 / (1 + np.exp(-x))
        elif kind == "tanh":
            x = np.tanh(x)
        elif kind == "gelu":
            if attributes.get("approximate", "none") == "tanh":
                x = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            else:
                x = 0.5 * x * (1 + _erf(x / math.sqrt(2)).astype(np.float64))
        elif kind == "silu":
            x = x / (1 + np.exp(-x))
        elif kind in ("softmax", "log_softmax"):
            shifted = x - x.max(axis=-1, keepdims=True)
            log_sum = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            x = np.exp(shifted - log_sum) if kind == "softmax" else shifted - log_sum
        elif kind in ("identity", "dropout"):
            pass
        else:
            raise SpecViolation(f"no reference for layer kind {kind!r}")
    return x
