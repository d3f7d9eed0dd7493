#!/usr/bin/env python3
"""Writes the safetensors fixtures: files written by the real `safetensors` library, a sharded checkpoint, and the
malformed corpus.

    /work/venv-gen/py/bin/python Fixtures/generate/safetensors_fixtures.py

Needs the pinned safetensors 0.8.0 and torch 2.15.0 (torch for bfloat16, which numpy lacks). Run after
generate.py: the sharded checkpoint is Fixtures/models/safetensors/example.safetensors (written by torch there)
split in two. Deterministic: no random numbers, no timestamps.

Outputs
- Fixtures/models/safetensors/all_dtypes.safetensors: every dtype ModelKit reads, a scalar and an empty tensor, written
  by `safetensors.torch.save_file` with metadata {"format": "pt"}; Fixtures/expected/safetensors/all_dtypes.json
  records what safetensors reads back (names in data order, dtype, shape, offsets, exact values). Our reader must
  give the same values, and our writer must reproduce the file byte for byte.
- Fixtures/models/safetensors/sharded/: model.safetensors.index.json and two shards, as `save_pretrained` lays
  them out; `safetensors` reads every shard back to the example's tensors.
- Fixtures/malformed/safetensors/: one damaged file per rule of the reader, and EXPECTED.json: for each file, the
  class of error our reader must report, a phrase its message must contain, and what the reference reader
  (safetensors 0.8.0 `safetensors.torch.load`) does with the same bytes.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors.torch import load, load_file, save_file

if safetensors.__version__ != "0.8.0" or torch.__version__.split("+")[0] != "2.15.0":
    sys.exit(f"safetensors {safetensors.__version__} / torch {torch.__version__} found; the fixtures are pinned to "
             "safetensors 0.8.0 and torch 2.15.0 (Fixtures/generate/requirements.txt)")

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "Fixtures" / "models" / "safetensors"
EXPECTED = ROOT / "Fixtures" / "expected" / "safetensors"
MALFORMED = ROOT / "Fixtures" / "malformed" / "safetensors"

OUR_DTYPE = {torch.float64: "float64", torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
             torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8",
             torch.uint8: "uint8", torch.bool: "bool"}


def write_json(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def header_of(data: bytes) -> tuple[int, dict]:
    (size,) = struct.unpack("<Q", data[:8])
    return size, json.loads(data[8:8 + size])


# ---------------------------------------------------------------------------------------------------------------------
# Valid files


def all_dtypes() -> None:
    tensors = {
        "f64": torch.tensor([[0.1, -2.5, 1e-300], [3.0, -0.0, 1.5e10]], dtype=torch.float64),
        "f32": torch.tensor([1.5, -0.1, 3.4028234663852886e38], dtype=torch.float32),
        "f16": torch.tensor([[0.5, -65504.0], [6.103515625e-05, 0.1]], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -2.5, 0.1, 3.0e38], dtype=torch.bfloat16),
        "i64": torch.tensor([-9007199254740993, 9223372036854775807], dtype=torch.int64),
        "i32": torch.tensor([-2147483648, 0, 2147483647], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([[-128, 127], [0, -1]], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True], dtype=torch.bool),
        "scalar": torch.tensor(42.0, dtype=torch.float32),
        "empty": torch.zeros((0, 3), dtype=torch.float32),
    }
    path = MODELS / "all_dtypes.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    data = path.read_bytes()
    size, header = header_of(data)
    reloaded = load_file(str(path))
    entries = []
    for name, info in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                             key=lambda item: tuple(item[1]["data_offsets"]) + (item[0],)):
        tensor = reloaded[name]
        assert torch.equal(tensor, tensors[name]), name
        flat = tensor.reshape(-1)
        if tensor.dtype == torch.bool:
            values = [int(v) for v in flat.tolist()]
        elif tensor.dtype.is_floating_point:
            values = [float(v) for v in flat.to(torch.float64).tolist()]  # exact: every value widens exactly
        else:
            values = [int(v) for v in flat.tolist()]
        entries.append({"name": name, "dtype": OUR_DTYPE[tensor.dtype], "safetensors_dtype": info["dtype"],
                        "shape": list(tensor.shape), "data_offsets": info["data_offsets"], "values": values})
    write_json(EXPECTED / "all_dtypes.json", {
        "file": "Fixtures/models/safetensors/all_dtypes.safetensors",
        "producer": f"safetensors {safetensors.__version__} safetensors.torch.save_file (torch {torch.__version__})",
        "header_size": size,
        "file_size": len(data),
        "metadata": header.get("__metadata__", {}),
        "tensors_in_data_order": entries,
    })
    print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes, header {size}) and its expected values")


def sharded() -> None:
    source = MODELS / "example.safetensors"
    if not source.is_file():
        sys.exit(f"{source} is missing: run Fixtures/generate/generate.py first")
    state = load_file(str(source))
    folder = MODELS / "sharded"
    folder.mkdir(parents=True, exist_ok=True)
    shards = {"model-00001-of-00002.safetensors": ["0.bias", "0.weight"],
              "model-00002-of-00002.safetensors": ["2.bias", "2.weight", "4.bias", "4.weight"]}
    weight_map = {}
    for shard, names in shards.items():
        save_file({name: state[name] for name in names}, str(folder / shard), metadata={"format": "pt"})
        weight_map.update({name: shard for name in names})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    write_json(folder / "model.safetensors.index.json", index)
    for shard in shards:
        for name, tensor in load_file(str(folder / shard)).items():
            assert torch.equal(tensor, state[name]), name
    print(f"wrote {folder.relative_to(ROOT)}/ (index + {len(shards)} shards of example.safetensors)")


# ---------------------------------------------------------------------------------------------------------------------
# Malformed corpus


def container(header, data: bytes = b"", size: int | None = None) -> bytes:
    """Header (a dict, or raw text/bytes) + data; `size` overrides the header-size field."""
    if isinstance(header, dict):
        text = json.dumps(header, separators=(",", ":")).encode()
    elif isinstance(header, str):
        text = header.encode()
    else:
        text = header
    return struct.pack("<Q", len(text) if size is None else size) + text + data


def entry(dtype: str, shape, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


F32x2 = struct.pack("<2f", 1.0, 2.0)
VALID_HEADER = {"__metadata__": {"format": "pt"}, "a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 8, 16)}
VALID = container(VALID_HEADER, F32x2 + F32x2)


def corpus() -> dict[str, tuple[bytes, str, str]]:
    """name → (bytes, kind our reader reports, phrase its message contains)."""
    header_size = len(VALID) - 16 - 8
    files = {
        "truncated-empty": (b"", "not this format", "empty file"),
        "truncated-in-size-field": (VALID[:4], "truncated", "8-byte header size"),
        "truncated-in-header": (VALID[:8 + header_size // 2], "truncated", "JSON header"),
        "truncated-in-first-tensor": (VALID[:8 + header_size + 3], "truncated", "tensor 'a'"),
        "truncated-in-last-tensor": (VALID[:-5], "truncated", "tensor 'b'"),
        "truncated-last-byte-missing": (VALID[:-1], "truncated", "tensor 'b'"),
        "header-size-past-eof": (container(VALID_HEADER, F32x2 + F32x2, size=10_000), "truncated", "JSON header of 10000 bytes"),
        "header-size-2-to-60": (container(VALID_HEADER, F32x2 + F32x2, size=1 << 60), "unsupported", "1152921504606846976"),
        "header-size-over-100mb": (container(VALID_HEADER, F32x2 + F32x2, size=100_000_001), "unsupported", "100000000-byte limit"),
        "header-invalid-json": (container('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]', F32x2),
                                "corrupt", "not valid JSON"),
        "header-invalid-utf8": (container(b'{"\xff\xfe": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', F32x2),
                                "corrupt", "UTF-8"),
        "header-not-object": (container("[1, 2, 3]"), "corrupt", "not an object"),
        "header-nested-deep": (container("{\"a\":" + "[" * 10000 + "]" * 10000 + "}"), "corrupt", "not valid JSON"),
        "duplicate-key": (container('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                    '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', F32x2),
                          "corrupt", "duplicate key"),
        "metadata-not-string": (container({"__metadata__": {"epoch": 3}, "a": entry("F32", [2], 0, 8)}, F32x2),
                                "corrupt", "__metadata__"),
        "metadata-not-object": (container({"__metadata__": "pt", "a": entry("F32", [2], 0, 8)}, F32x2),
                                "corrupt", "__metadata__"),
        "entry-not-object": (container({"a": [0, 8]}, F32x2), "corrupt", "not an object"),
        "entry-missing-dtype": (container({"a": {"shape": [2], "data_offsets": [0, 8]}}, F32x2), "corrupt", "dtype"),
        "entry-missing-offsets": (container({"a": {"dtype": "F32", "shape": [2]}}, F32x2), "corrupt", "data_offsets"),
        "offsets-three-values": (container({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}}, F32x2),
                                 "corrupt", "data_offsets"),
        "offsets-end-before-begin": (container({"a": entry("F32", [0], 8, 0)}, F32x2), "corrupt", "end before"),
        "offsets-first-not-at-zero": (container({"a": entry("F32", [2], 8, 16)}, F32x2 + F32x2), "corrupt", "begin at 0"),
        "offsets-overlap": (container({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, F32x2 + F32x2[:4]),
                            "corrupt", "overlap"),
        "offsets-gap": (container({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 12, 20)}, F32x2 * 2 + b"\0" * 4),
                        "corrupt", "gap"),
        "data-not-covered-to-end": (container({"a": entry("F32", [2], 0, 8)}, F32x2 + b"\0" * 4), "corrupt", "belong to no tensor"),
        "dtype-times-shape-not-length": (container({"a": entry("F32", [3], 0, 8)}, F32x2), "corrupt", "needs 12 bytes"),
        "shape-overflow": (container({"a": entry("F32", [1 << 62, 1 << 62], 0, 8)}, F32x2), "corrupt", "overflow"),
        "shape-element-count-2-to-62": (container({"a": entry("F64", [1 << 31, 1 << 31], 0, 8)}, F32x2), "corrupt", "overflow"),
        "shape-negative": (container('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', F32x2), "corrupt", "shape[0]"),
        "shape-not-integer": (container('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', F32x2), "corrupt", "shape[0]"),
        "shape-rank-9": (container({"a": entry("F32", [1] * 9, 0, 4)}, F32x2[:4]), "corrupt", "at most 8"),
        "offset-2-to-70": (container('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1180591620717411303424]}}', F32x2),
                           "corrupt", "data_offsets"),
        "unknown-dtype": (container({"a": entry("Q4_K", [2], 0, 8)}, F32x2), "unsupported", "unknown dtype Q4_K"),
        "unsupported-dtype-f8": (container({"a": entry("F8_E4M3", [8], 0, 8)}, F32x2), "unsupported", "unsupported dtype F8_E4M3"),
        "unsupported-dtype-u16": (container({"a": entry("U16", [4], 0, 8)}, F32x2), "unsupported", "unsupported dtype U16"),
        "unsupported-dtype-c64": (container({"a": entry("C64", [1], 0, 8)}, F32x2), "unsupported", "unsupported dtype C64"),
        "zip-archive": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\0" * 40, "not this format", "zip"),
        "html-page": (b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", "not this format", "HTML"),
    }
    return files


def reference_verdict(data: bytes) -> str:
    try:
        load(data)
        return "accepts"
    except Exception as error:  # noqa: BLE001  (any refusal is what we record)
        return f"refuses: {type(error).__name__}: {str(error).splitlines()[0][:160]}"


def index_corpus() -> dict[str, tuple[dict, dict[str, bytes], str, str]]:
    """folder → (index, shard files, kind, phrase)."""
    shard_a = container({"a": entry("F32", [2], 0, 8)}, F32x2)
    shard_b = container({"b": entry("F32", [2], 0, 8)}, F32x2)
    shard_ab = container({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 8, 16)}, F32x2 * 2)
    return {
        "index-parent-shard": ({"weight_map": {"a": "../outside.safetensors"}}, {}, "corrupt", ".."),
        "index-absolute-shard": ({"weight_map": {"a": "/etc/passwd"}}, {}, "corrupt", "absolute path"),
        "index-tensor-in-two-shards": ({"weight_map": {"a": "one.safetensors", "b": "two.safetensors"}},
                                       {"one.safetensors": shard_a, "two.safetensors": shard_ab}, "corrupt", "in both"),
        "index-tensor-missing": ({"weight_map": {"a": "one.safetensors", "b": "one.safetensors"}},
                                 {"one.safetensors": shard_a}, "corrupt", "does not hold it"),
        "index-tensor-not-listed": ({"weight_map": {"a": "one.safetensors"}},
                                    {"one.safetensors": shard_ab}, "corrupt", "does not list"),
        "index-wrong-shard": ({"weight_map": {"a": "two.safetensors", "b": "one.safetensors"}},
                              {"one.safetensors": shard_a, "two.safetensors": shard_b}, "corrupt", "puts tensor"),
        "index-missing-shard-file": ({"weight_map": {"a": "absent.safetensors"}}, {}, "io", "absent.safetensors"),
        "index-no-weight-map": ({"metadata": {"total_size": 8}}, {}, "corrupt", "weight_map"),
    }


def malformed() -> None:
    MALFORMED.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, kind, phrase) in corpus().items():
        (MALFORMED / f"{name}.safetensors").write_bytes(data)
        expected[f"{name}.safetensors"] = {"kind": kind, "message_contains": phrase,
                                           "reference_reader": reference_verdict(data)}
    for folder, (index, shards, kind, phrase) in index_corpus().items():
        target = MALFORMED / folder
        target.mkdir(parents=True, exist_ok=True)
        write_json(target / "model.safetensors.index.json", index)
        for shard, data in shards.items():
            (target / shard).write_bytes(data)
        expected[f"{folder}/model.safetensors.index.json"] = {"kind": kind, "message_contains": phrase}
    write_json(MALFORMED / "EXPECTED.json", {
        "about": "For each file: the class of error ModelKit's reader must report (ModelFileError.Kind), a phrase "
                 "its one-line message must contain, and what the reference reader (safetensors "
                 f"{safetensors.__version__}, safetensors.torch.load) does with the same bytes. Written by "
                 "Fixtures/generate/safetensors_fixtures.py.",
        "files": expected,
    })
    accepted = [name for name, facts in expected.items() if facts.get("reference_reader") == "accepts"]
    print(f"wrote {len(expected)} malformed inputs to {MALFORMED.relative_to(ROOT)}; the reference accepts: {accepted}")


if __name__ == "__main__":
    np.set_printoptions(precision=17)
    all_dtypes()
    sharded()
    malformed()
