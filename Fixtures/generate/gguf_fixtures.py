#!/usr/bin/env python3
"""Writes the GGUF fixtures with the real `gguf` package (gguf-py, llama.cpp's Python writer and reader).

Pinned versions (the script refuses others):  gguf==0.19.0  numpy==2.4.6  safetensors==0.8.0

Run:   /work/venv-gen/py/bin/python Fixtures/generate/gguf_fixtures.py            # rewrite the fixtures
       /work/venv-gen/py/bin/python Fixtures/generate/gguf_fixtures.py --check    # regenerate in a temp dir, compare bytes

What it writes (see Specs/interop/gguf.md):
  Fixtures/models/gguf/           valid files written by gguf.GGUFWriter
  Fixtures/expected/gguf/         what gguf.GGUFReader (and gguf.quants.dequantize) read from them
  Fixtures/malformed/gguf/        damaged and hostile files, built byte by byte, with malformed.json describing each
                                  file and what gguf.GGUFReader does with it

It also checks the GGUF files ModelKit itself exported (Fixtures/models/gguf/modelkit_*.gguf, written by the Swift test
GGUFExportFixtureTests with MODELKIT_WRITE_GGUF_FIXTURES=1) with gguf.GGUFReader against the torch reference weights,
and records the result in Fixtures/expected/gguf/modelkit_export_check.json (the script fails if a check fails).

Everything is deterministic: fixed seeds (numpy default_rng), no timestamps; two runs give identical bytes.
"""

import argparse
import filecmp
import hashlib
import importlib.metadata
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PINNED = {"gguf": "0.19.0", "numpy": "2.4.6", "safetensors": "0.8.0"}
for package, version in PINNED.items():
    found = importlib.metadata.version(package)
    if found != version:
        sys.exit(f"{package} {found} found; the GGUF fixtures are pinned to {package}=={version}")

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT, GGUFReader, GGUFValueType as VT, GGUFWriter  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ORDER = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


# ----------------------------------------------------------------------------------------------------------------
# Helpers

def write_gguf(path, arch, metadata=(), tensors=(), alignment=None):
    """Writes a file with GGUFWriter: metadata is [(key, value, type, sub_type)], tensors [(name, array, raw_dtype)]."""
    writer = GGUFWriter(str(path), arch)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    for key, value, vtype, sub_type in metadata:
        writer.add_key_value(key, value, vtype, sub_type=sub_type)
    for name, array, raw_dtype in tensors:
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def jsonable(value):
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        assert np.isfinite(value), "metadata fixtures hold finite floats only (JSON has no NaN)"
    return value


def reader_view(path):
    """What gguf.GGUFReader reports about a file: header facts, metadata (types and contents), tensor infos."""
    reader = GGUFReader(str(path))
    metadata = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        metadata.append({"key": key, "types": [t.name for t in field.types], "contents": jsonable(field.contents())})
    tensors = [{
        "name": t.name, "type": int(t.tensor_type), "type_name": t.tensor_type.name,
        "dimensions": [int(d) for d in t.shape], "n_elements": int(t.n_elements), "n_bytes": int(t.n_bytes),
        "data_offset": int(t.data_offset),
    } for t in reader.tensors]
    return {
        "version": int(reader.fields["GGUF.version"].parts[0][0]), "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset), "file_size": os.path.getsize(path),
        "metadata": metadata, "tensors": tensors,
    }


def dump_json(path, value):
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def flat_values(array):
    """Row-major values for JSON: ints exactly, floats as the exact double."""
    return [v.item() if hasattr(v, "item") else v for v in np.ascontiguousarray(array).reshape(-1)]


# ----------------------------------------------------------------------------------------------------------------
# Valid files

def example_weights():
    weights = load_file(str(ROOT / "Fixtures/models/safetensors/example.safetensors"))
    assert list(sorted(weights)) == sorted(EXAMPLE_ORDER)
    return [(name, weights[name]) for name in EXAMPLE_ORDER]


def make_example(models, dtype, name):
    tensors = [(n, a.astype(dtype), None) for n, a in example_weights()]
    write_gguf(models / name, "mlp", [("general.name", "example", VT.STRING, None),
                                      ("general.description", "the example network's state_dict (torch manual_seed(0))", VT.STRING, None)],
               tensors)


# Every value type, arrays of each, nested arrays, unusual strings. Written by GGUFWriter; the reader's view is the
# expected value; "written" keeps the nested structure GGUFReader flattens.
METADATA_TYPES = [
    ("test.uint8", 255, VT.UINT8, None),
    ("test.int8", -128, VT.INT8, None),
    ("test.uint16", 65535, VT.UINT16, None),
    ("test.int16", -32768, VT.INT16, None),
    ("test.uint32", 4294967295, VT.UINT32, None),
    ("test.int32", -2147483648, VT.INT32, None),
    ("test.float32", 0.1, VT.FLOAT32, None),
    ("test.float32_subnormal", 1e-45, VT.FLOAT32, None),
    ("test.float32_negative_zero", -0.0, VT.FLOAT32, None),
    ("test.bool_true", True, VT.BOOL, None),
    ("test.bool_false", False, VT.BOOL, None),
    ("test.string", "hello", VT.STRING, None),
    ("test.string_empty", "", VT.STRING, None),
    ("test.string_unicode", "héllo ✓ 日本語 \U0001F600 \"quoted\" \\ tab\tnew\nline", VT.STRING, None),
    ("test.uint64", 18446744073709551615, VT.UINT64, None),
    ("test.int64", -9223372036854775808, VT.INT64, None),
    ("test.float64", 2.718281828459045, VT.FLOAT64, None),
    ("test.float64_large", 1.7976931348623157e308, VT.FLOAT64, None),
    ("test.array.uint8", [0, 1, 254, 255], VT.ARRAY, VT.UINT8),
    ("test.array.int8", [-128, -1, 0, 127], VT.ARRAY, VT.INT8),
    ("test.array.uint16", [0, 65535], VT.ARRAY, VT.UINT16),
    ("test.array.int16", [-32768, 32767], VT.ARRAY, VT.INT16),
    ("test.array.uint32", [0, 4294967295], VT.ARRAY, VT.UINT32),
    ("test.array.int32", [-2147483648, 7, 2147483647], VT.ARRAY, VT.INT32),
    ("test.array.float32", [0.5, -1.25, 3.4028234663852886e38], VT.ARRAY, VT.FLOAT32),
    ("test.array.bool", [True, False, True], VT.ARRAY, VT.BOOL),
    ("test.array.string", ["a", "", "ünïcödé", "<0x0A>"], VT.ARRAY, VT.STRING),
    ("test.array.uint64", [0, 18446744073709551615], VT.ARRAY, VT.UINT64),
    ("test.array.int64", [-9223372036854775808, 9223372036854775807], VT.ARRAY, VT.INT64),
    ("test.array.float64", [1e-300, -2.5], VT.ARRAY, VT.FLOAT64),
    ("test.array.nested_int32", [[1, 2, 3], [4], [5, 6]], VT.ARRAY, None),
    ("test.array.nested_string", [["x", "yz"], ["w"]], VT.ARRAY, None),
    ("test.array.nested_3_deep", [[[1.5, 2.5], [3.5]], [[4.5]]], VT.ARRAY, None),
    ("test.array.single", [42], VT.ARRAY, VT.UINT32),
]


def make_metadata_types(models):
    write_gguf(models / "metadata_types.gguf", "test", [("general.name", "every value type", VT.STRING, None)] + METADATA_TYPES)
    return {key: {"value": value, "type": vtype.name, "sub_type": sub.name if sub else None}
            for key, value, vtype, sub in METADATA_TYPES}


def make_quantized(models, expected):
    """A two-layer network whose weights are Q8_0 and Q4_0 (biases F32), plus the dequantized values gguf-py computes."""
    rng = np.random.default_rng(20251123)
    w1 = rng.normal(0, 0.5, size=(32, 64)).astype(np.float32)   # linear(64, 32): [out, in], rows of 64 = 2 blocks
    w1[0, :32] = 0                                                # an all-zero block: scale 0
    w1[1, 5] = 40.0                                               # an outlier that sets its block's scale
    w2 = rng.normal(0, 0.5, size=(4, 32)).astype(np.float32)    # linear(32, 4): one Q4_0 block per row
    w2[0, 3] = -3.0                                               # Q4_0 takes the signed extreme: d = max / -8
    w2[1, :] = 0
    b1 = rng.normal(0, 0.1, size=(32,)).astype(np.float32)
    b2 = rng.normal(0, 0.1, size=(4,)).astype(np.float32)
    q1 = gguf.quants.quantize(w1, QT.Q8_0)
    q2 = gguf.quants.quantize(w2, QT.Q4_0)
    write_gguf(models / "quantized.gguf", "mlp",
               [("general.name", "quantized", VT.STRING, None), ("general.quantization_version", 2, VT.UINT32, None)],
               [("fc1.weight", q1, QT.Q8_0), ("fc1.bias", b1, None), ("fc2.weight", q2, QT.Q4_0), ("fc2.bias", b2, None)])
    reader = GGUFReader(str(models / "quantized.gguf"))
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).astype(np.float32)
        np.save(expected / f"quantized.{tensor.name}.npy", np.ascontiguousarray(values), allow_pickle=False)
    # The quantization error, for the record (the Swift test compares with the dequantized values exactly).
    return {"fc1.weight max |w - dequantized|": float(np.abs(w1 - gguf.quants.dequantize(q1, QT.Q8_0)).max()),
            "fc2.weight max |w - dequantized|": float(np.abs(w2 - gguf.quants.dequantize(q2, QT.Q4_0)).max())}


# Byte offsets of the f16 scale fields in each block (ggml-common.h): random bytes there could be NaN or infinite.
SCALE_OFFSETS = {QT.Q4_1: (0, 2), QT.Q5_0: (0,), QT.Q5_1: (0, 2), QT.Q2_K: (80, 82), QT.Q3_K: (108,),
                 QT.Q4_K: (0, 2), QT.Q5_K: (0, 2), QT.Q6_K: (208,)}


def make_block_types(models, expected):
    """One tensor per further block type ModelKit dequantizes: every other byte random (all bit patterns of the
    quants, scales and masks), the f16 scales finite; expected values are gguf.quants.dequantize's."""
    rng = np.random.default_rng(20261123)
    tensors = []
    for qtype, offsets in SCALE_OFFSETS.items():
        block_elements, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        rows, blocks_per_row = 3, 2
        data = rng.integers(0, 256, size=(rows * blocks_per_row, block_bytes), dtype=np.uint8)
        for offset in offsets:
            scales = rng.normal(0, 0.05, size=rows * blocks_per_row).astype(np.float16)
            data[:, offset:offset + 2] = scales.view(np.uint8).reshape(-1, 2)
        data = data.reshape(rows, blocks_per_row * block_bytes)
        tensors.append((f"{qtype.name.lower()}.weight", data, qtype))
    write_gguf(models / "block_types.gguf", "mlp", [("general.name", "block types", VT.STRING, None)], tensors)
    for tensor in GGUFReader(str(models / "block_types.gguf")).tensors:
        values = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).astype(np.float32)
        assert np.isfinite(values).all(), tensor.name
        np.save(expected / f"block_types.{tensor.name}.npy", np.ascontiguousarray(values), allow_pickle=False)


def make_dtypes(models, expected):
    """Every plain tensor type, 0 to 4 dimensions, an empty tensor, alignment 64; and the same file as version 2."""
    rng = np.random.default_rng(7)
    bf16_source = rng.normal(0, 3, size=(2, 8)).astype(np.float32)
    bf16_bits = gguf.quants.quantize(bf16_source, QT.BF16).view(np.uint16).reshape(2, 8)
    tensors = [
        ("f64", rng.normal(0, 1, size=(3, 5)), None),
        ("i8", np.array([-128, -1, 0, 1, 127, 5, -7], dtype=np.int8), None),
        ("i16", np.array([[-32768, 0, 32767], [1, -2, 3]], dtype=np.int16), None),
        ("i32", np.arange(-4, 4, dtype=np.int32).reshape(2, 2, 2) * 123456789, None),
        ("i64", np.array([-(2**63), -1, 2**53 + 1, 2**63 - 1], dtype=np.int64), None),
        ("bf16", bf16_bits, QT.BF16),
        ("f16", np.array([[0.5, -65504.0, 6.1035156e-05], [5.9604645e-08, 1.0, -0.0]], dtype=np.float16), None),
        ("f32_scalar", np.array(-2.5, dtype=np.float32), None),
        ("f32_4d", np.arange(12, dtype=np.float32).reshape(2, 1, 3, 2) / 8, None),
        ("f32_empty", np.zeros((0, 4), dtype=np.float32), None),
    ]
    write_gguf(models / "dtypes.gguf", "test", [("general.name", "plain tensor types", VT.STRING, None)], tensors, alignment=64)
    reader = GGUFReader(str(models / "dtypes.gguf"))
    values = {}
    for tensor in reader.tensors:
        data = np.asarray(tensor.data)
        if tensor.tensor_type == QT.BF16:
            data = gguf.quants.dequantize(data, QT.BF16).astype(np.float32)
        values[tensor.name] = {"type": tensor.tensor_type.name, "shape": list(data.shape), "values": flat_values(data)}
    dump_json(expected / "dtypes.values.json", values)
    # Version 2 has the same layout as version 3 for little-endian files: patch the version field.
    raw = bytearray((models / "dtypes.gguf").read_bytes())
    raw[4:8] = struct.pack("<I", 2)
    (models / "dtypes_v2.gguf").write_bytes(bytes(raw))


def make_llm_like(models):
    """Llama-style names and tokenizer metadata, with tensor types ModelKit lists but does not load (Q4_K, Q6_K)."""
    rng = np.random.default_rng(11)
    tokens = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x20>", "▁the", "▁of", "▁日本", "é", "\U0001F600"]
    tokens += [f"tok{i}" for i in range(len(tokens), 64)]
    metadata = [
        ("general.name", "tiny llama-like", VT.STRING, None),
        ("general.file_type", 15, VT.UINT32, None),
        ("general.quantization_version", 2, VT.UINT32, None),
        ("llama.context_length", 128, VT.UINT32, None),
        ("llama.embedding_length", 32, VT.UINT32, None),
        ("llama.block_count", 1, VT.UINT32, None),
        ("llama.feed_forward_length", 256, VT.UINT32, None),
        ("llama.attention.head_count", 4, VT.UINT32, None),
        ("llama.attention.layer_norm_rms_epsilon", 1e-5, VT.FLOAT32, None),
        ("llama.rope.dimension_count", 8, VT.UINT32, None),
        ("tokenizer.ggml.model", "llama", VT.STRING, None),
        ("tokenizer.ggml.tokens", tokens, VT.ARRAY, VT.STRING),
        ("tokenizer.ggml.scores", [float(-i) / 4 for i in range(64)], VT.ARRAY, VT.FLOAT32),
        ("tokenizer.ggml.token_type", [2, 3, 3] + [6] * 2 + [1] * 59, VT.ARRAY, VT.INT32),
        ("tokenizer.ggml.bos_token_id", 1, VT.UINT32, None),
        ("tokenizer.ggml.eos_token_id", 2, VT.UINT32, None),
    ]
    tensors = [
        ("token_embd.weight", rng.normal(0, 1, size=(64, 32)).astype(np.float16), None),
        ("blk.0.attn_norm.weight", np.ones(32, dtype=np.float32), None),
        ("blk.0.attn_q.weight", gguf.quants.quantize(rng.normal(0, 1, size=(32, 32)).astype(np.float32), QT.Q8_0), QT.Q8_0),
        # Q4_K and Q6_K blocks of 256 elements: random bytes (never decoded; they only have to be the right size).
        ("blk.0.ffn_down.weight", rng.integers(0, 256, size=(32, 144), dtype=np.uint8), QT.Q4_K),
        ("output_norm.weight", np.ones(32, dtype=np.float32), None),
        ("output.weight", rng.integers(0, 256, size=(64, 210), dtype=np.uint8), QT.Q6_K),
    ]
    write_gguf(models / "llm_like.gguf", "llama", metadata, tensors)


# ----------------------------------------------------------------------------------------------------------------
# Malformed files: a minimal valid file built byte by byte, then damaged

def s(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def tinfo(name, dims, ggml_type, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset)


def gguf_bytes(kvs, infos, data, version=3, tensor_count=None, kv_count=None, alignment=32, magic=b"GGUF"):
    head = magic + struct.pack("<I", version)
    head += struct.pack("<QQ", len(infos) if tensor_count is None else tensor_count, len(kvs) if kv_count is None else kv_count)
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % alignment)
    return head + data


def base_parts():
    """general.architecture + general.name, and two F32 tensors: w [2, 3] (ne [3, 2]) at 0 and b [2] at 32."""
    kvs = [kv("general.architecture", VT.STRING, s("test")), kv("general.name", VT.STRING, s("base"))]
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([0.5, -0.5], dtype=np.float32)
    infos = [tinfo("w", [3, 2], QT.F32, 0), tinfo("b", [2], QT.F32, 32)]
    data = w.tobytes() + b"\0" * 8 + b.tobytes() + b"\0" * 24
    return kvs, infos, data


def malformed_files():
    kvs, infos, data = base_parts()
    base = gguf_bytes(kvs, infos, data)
    header_end = len(base) - len(data)
    files = {}

    def add(name, raw, what):
        files[name] = (raw, what)

    add("valid-base.gguf", base, "the undamaged base file (must read)")
    add("empty.gguf", b"", "an empty file")
    add("bad-magic.gguf", b"GGUG" + base[4:], "magic 'GGUG'")
    add("html-page.gguf", b"<!DOCTYPE html><html><body>Not found</body></html>\n", "a web page saved under a .gguf name")
    add("version-0.gguf", base[:4] + struct.pack("<I", 0) + base[8:], "version 0")
    add("version-1.gguf", base[:4] + struct.pack("<I", 1) + base[8:], "version 1 (32-bit counts, unsupported)")
    add("version-4.gguf", base[:4] + struct.pack("<I", 4) + base[8:], "version 4 (newer than 3)")
    add("big-endian.gguf", base[:4] + struct.pack(">I", 3) + base[8:], "version 3 written big-endian")
    # Truncations at every section.
    key_start = 24
    value_start = key_start + len(s("general.architecture")) + 4
    info_start = 24 + sum(len(k) for k in kvs)
    add("truncated-in-magic.gguf", base[:2], "2 bytes of the magic")
    add("truncated-in-version.gguf", base[:6], "ends inside the version")
    add("truncated-in-counts.gguf", base[:12], "ends inside the tensor count")
    add("truncated-in-metadata-key.gguf", base[:key_start + 12], "ends inside the first key")
    add("truncated-in-metadata-value.gguf", base[:value_start + 10], "ends inside the first value")
    add("truncated-in-tensor-info.gguf", base[:info_start + 6], "ends inside the length of the first tensor name")
    add("truncated-in-tensor-dims.gguf", base[:info_start + 8 + 1 + 4 + 4], "ends inside the first tensor's dimensions")
    add("truncated-at-data.gguf", base[:header_end], "ends where the data section starts")
    add("truncated-in-tensor-data.gguf", base[:header_end + 20], "ends inside tensor w's bytes")
    add("truncated-in-last-tensor.gguf", base[:header_end + 32 + 4], "ends inside tensor b's bytes")
    # Absurd counts and lengths.
    add("tensor-count-2-to-40.gguf", gguf_bytes(kvs, infos, data, tensor_count=2**40), "tensor count 2^40")
    add("metadata-count-2-to-60.gguf", gguf_bytes(kvs, infos, data, kv_count=2**60), "metadata count 2^60")
    add("metadata-count-2-to-64-minus-1.gguf", gguf_bytes(kvs, infos, data, kv_count=2**64 - 1), "metadata count 2^64-1")
    add("key-length-2-to-60.gguf", gguf_bytes([struct.pack("<Q", 2**60) + b"general.x"] + kvs[1:], infos, data),
        "a key whose length field says 2^60")
    add("string-length-2-to-60.gguf", gguf_bytes([kv("general.architecture", VT.STRING, struct.pack("<Q", 2**60) + b"test")] + kvs[1:], infos, data),
        "a string value whose length field says 2^60")
    add("array-count-2-to-50.gguf", gguf_bytes(kvs + [kv("test.array", VT.ARRAY, struct.pack("<IQ", VT.UINT8, 2**50) + b"\1\2")], infos, data),
        "a UINT8 array whose count says 2^50")
    add("string-array-count-2-to-50.gguf",
        gguf_bytes(kvs + [kv("test.array", VT.ARRAY, struct.pack("<IQ", VT.STRING, 2**50) + s("x"))], infos, data),
        "a STRING array whose count says 2^50")
    nested = b""
    for _ in range(100):
        nested = struct.pack("<IQ", VT.ARRAY, 1) + nested
    nested += struct.pack("<IQ", VT.UINT8, 0)
    add("nested-arrays-100-deep.gguf", gguf_bytes(kvs + [kv("test.deep", VT.ARRAY, nested)], infos, data), "arrays nested 100 deep")
    # Invalid metadata.
    add("unknown-value-type.gguf", gguf_bytes(kvs + [kv("test.bad", 13, b"\0" * 8)], infos, data), "value type 13")
    add("unknown-array-element-type.gguf",
        gguf_bytes(kvs + [kv("test.bad", VT.ARRAY, struct.pack("<IQ", 99, 1) + b"\0" * 8)], infos, data), "array of type 99")
    add("invalid-utf8-key.gguf", gguf_bytes(kvs + [kv(b"test.\xff\xfe", VT.UINT8, b"\1")], infos, data), "a key that is not UTF-8")
    add("invalid-utf8-string.gguf", gguf_bytes(kvs + [kv("test.text", VT.STRING, s(b"ab\xc3"))], infos, data),
        "a string value that is not UTF-8")
    add("duplicate-key.gguf", gguf_bytes(kvs + [kv("general.name", VT.STRING, s("again"))], infos, data), "general.name twice")
    add("bool-value-2.gguf", gguf_bytes(kvs + [kv("test.flag", VT.BOOL, b"\2")], infos, data), "a BOOL holding 2")
    # Alignment.
    add("alignment-zero.gguf", gguf_bytes(kvs + [kv("general.alignment", VT.UINT32, struct.pack("<I", 0))], infos, data),
        "general.alignment 0")
    add("alignment-48.gguf", gguf_bytes(kvs + [kv("general.alignment", VT.UINT32, struct.pack("<I", 48))], infos, data, alignment=48),
        "general.alignment 48 (not a power of two)")
    add("alignment-uint64.gguf", gguf_bytes(kvs + [kv("general.alignment", VT.UINT64, struct.pack("<Q", 32))], infos, data),
        "general.alignment stored as UINT64")
    # Tensor infos and data placement.
    add("tensor-misaligned-offset.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2], QT.F32, 24)], data), "tensor b at offset 24")
    add("tensor-offset-past-end.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2], QT.F32, 4096)], data), "tensor b at offset 4096")
    add("tensor-offset-2-to-63.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2], QT.F32, 2**63)], data), "tensor b at offset 2^63")
    add("tensor-overlap.gguf", gguf_bytes(kvs, [tinfo("w", [3, 3], QT.F32, 0), infos[1]], data),
        "tensor w [3, 3] (36 bytes) runs into tensor b at 32")
    add("tensor-duplicate-name.gguf", gguf_bytes(kvs, [infos[0], tinfo("w", [2], QT.F32, 32)], data), "two tensors named w")
    add("tensor-empty-name.gguf", gguf_bytes(kvs, [infos[0], tinfo("", [2], QT.F32, 32)], data), "a tensor with an empty name")
    add("tensor-5-dimensions.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2, 1, 1, 1, 1], QT.F32, 32)], data), "5 dimensions")
    add("tensor-dimension-count-2-to-31.gguf",
        gguf_bytes(kvs, [infos[0], s("b") + struct.pack("<I", 2**31)], data), "dimension count 2^31")
    add("tensor-element-count-overflow.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2**40, 2**40], QT.F32, 32)], data),
        "dimensions 2^40 x 2^40")
    add("tensor-byte-count-overflow.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2**61], QT.F64, 32)], data),
        "2^61 F64 elements (the byte count overflows)")
    add("tensor-huge-claims-2-to-40-bytes.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [2**38], QT.F32, 32)], data),
        "tensor b claims 2^40 bytes in a small file")
    add("tensor-q8-row-not-multiple-of-32.gguf", gguf_bytes(kvs, [infos[0], tinfo("b", [30], QT.Q8_0, 32)], data),
        "a Q8_0 tensor with 30 elements per row")
    add("tensor-invalid-utf8-name.gguf", gguf_bytes(kvs, [infos[0], tinfo(b"b\xff", [2], QT.F32, 32)], data),
        "a tensor name that is not UTF-8")
    return files


GGUF_PY_PROBE = r"""
import resource, sys
from gguf import GGUFReader
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
try:
    reader = GGUFReader(sys.argv[1])
    print("accepts (%d tensors)" % len(reader.tensors))
except MemoryError:
    print("runs out of memory (MemoryError under a 1 GiB limit)")
except BaseException as error:
    print("raises %s: %s" % (type(error).__name__, str(error).splitlines()[0][:160] if str(error) else ""))
"""


def gguf_py_verdict(path):
    """What gguf.GGUFReader does with a malformed file (in a child limited to 1 GiB of address space)."""
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", GGUF_PY_PROBE, str(path)], capture_output=True, text=True, env=environment)
    if "MemoryError" in result.stderr:
        return "runs out of memory (MemoryError under a 1 GiB limit)"
    return result.stdout.strip() or f"exits {result.returncode}: {result.stderr.strip().splitlines()[-1][:160]}"


# ----------------------------------------------------------------------------------------------------------------
# ModelKit's own exports, checked with gguf.GGUFReader

def torch_reference(name):
    """The reference weights each ModelKit export must hold, as gguf-py's numpy view: [out, in] row-major."""
    if name == "modelkit_example.gguf":
        weights = dict(example_weights())
        mapping = {"fc1": "0", "fc2": "2", "fc3": "4"}
        return {f"{layer}.{role}": weights[f"{index}.{role}"] for layer, index in mapping.items() for role in ("weight", "bias")}
    model = json.loads((ROOT / "Fixtures/models/example/zoo.json").read_text())
    reference = {}
    for tensor in model["tensors"]:
        array = np.array(tensor["values"], dtype=np.float16 if tensor["dtype"] == "float16" else np.float32).reshape(tensor["shape"])
        if tensor.get("layout") == "in_out":
            array = np.ascontiguousarray(array.T)  # ModelKit writes every dense weight [out, in]
        reference[tensor["name"]] = array
    return reference


def check_exports(models):
    results = {}
    for name in ["modelkit_example.gguf", "modelkit_zoo.gguf"]:
        path = models / name
        if not path.exists():
            sys.exit(f"{path} is missing: write it with MODELKIT_WRITE_GGUF_FIXTURES=1 swift test --filter GGUFExportFixtureTests")
        reader = GGUFReader(str(path))
        fields = {key: field.contents() for key, field in reader.fields.items()}
        assert fields["general.architecture"] == "modelkit-dense", fields["general.architecture"]
        reference = torch_reference(name)
        tensors = []
        for tensor in reader.tensors:
            want = reference.pop(tensor.name)
            got = np.asarray(tensor.data)
            assert got.dtype == want.dtype and got.shape == want.shape, (tensor.name, got.dtype, got.shape, want.dtype, want.shape)
            assert np.array_equal(got, want), f"{name}: {tensor.name} differs from the reference"
            tensors.append({"name": tensor.name, "type": tensor.tensor_type.name, "dimensions": [int(d) for d in tensor.shape],
                            "numpy_shape": list(got.shape), "equal_to_reference": True})
        assert not reference, f"{name}: missing tensors {sorted(reference)}"
        layers = [json.loads(text) for text in fields["modelkit.layers"]]
        results[name] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "reader": "gguf.GGUFReader " + PINNED["gguf"], "version": int(fields["GGUF.version"]),
            "alignment": int(reader.alignment), "general.name": fields.get("general.name"),
            "modelkit.architecture": fields.get("modelkit.architecture"),
            "layers": [f"{layer['name']}:{layer['kind']}" for layer in layers],
            "tensors": tensors,
        }
    return results


# ----------------------------------------------------------------------------------------------------------------

def generate(root, check_exports_from, skip_export_check=False):
    models, expected, malformed = root / "Fixtures/models/gguf", root / "Fixtures/expected/gguf", root / "Fixtures/malformed/gguf"
    for directory in (models, expected, malformed):
        directory.mkdir(parents=True, exist_ok=True)
    make_example(models, np.float32, "example_f32.gguf")
    make_example(models, np.float16, "example_f16.gguf")
    written = make_metadata_types(models)
    quantization_error = make_quantized(models, expected)
    make_dtypes(models, expected)
    make_llm_like(models)
    make_block_types(models, expected)
    views = {}
    for name in ["example_f32.gguf", "example_f16.gguf", "metadata_types.gguf", "quantized.gguf", "dtypes.gguf",
                 "dtypes_v2.gguf", "llm_like.gguf"]:
        views[name] = reader_view(models / name)
    views["metadata_types.gguf"]["written"] = written
    views["quantized.gguf"]["quantization_error"] = quantization_error
    dump_json(expected / "headers.json", {"producer": f"gguf.GGUFReader {PINNED['gguf']} (Fixtures/generate/gguf_fixtures.py)",
                                          "files": views})
    descriptions = {}
    for name, (raw, what) in malformed_files().items():
        (malformed / name).write_bytes(raw)
        descriptions[name] = {"what": what, "gguf_py": gguf_py_verdict(malformed / name)}
    assert descriptions["valid-base.gguf"]["gguf_py"].startswith("accepts"), descriptions["valid-base.gguf"]
    dump_json(malformed / "malformed.json", descriptions)
    if skip_export_check:
        print("skipped the check of ModelKit's exports (--skip-export-check)")
        return
    dump_json(expected / "modelkit_export_check.json", check_exports(check_exports_from))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare with the committed files")
    parser.add_argument("--skip-export-check", action="store_true",
                        help="do not check ModelKit's exported files (before the Swift test has written them)")
    args = parser.parse_args()
    if not args.check:
        generate(ROOT, ROOT / "Fixtures/models/gguf", args.skip_export_check)
        print("wrote Fixtures/models/gguf, Fixtures/expected/gguf, Fixtures/malformed/gguf")
        return
    with tempfile.TemporaryDirectory() as temp:
        generate(Path(temp), ROOT / "Fixtures/models/gguf", args.skip_export_check)
        differences = []
        for sub in ["Fixtures/models/gguf", "Fixtures/expected/gguf", "Fixtures/malformed/gguf"]:
            fresh = Path(temp) / sub
            for path in sorted(fresh.iterdir()):
                committed = ROOT / sub / path.name
                if not committed.exists() or not filecmp.cmp(path, committed, shallow=False):
                    differences.append(str(committed.relative_to(ROOT)))
        if differences:
            sys.exit("differs from a fresh run: " + ", ".join(differences))
        print("all GGUF fixtures match a fresh run byte for byte")


if __name__ == "__main__":
    main()
