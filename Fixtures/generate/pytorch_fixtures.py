#!/usr/bin/env python3
"""Writes the PyTorch interop fixtures: torch.save archives, expected values, hostile files, and the live check of
ModelKit's own exports.

    /work/venv-gen/py/bin/python Fixtures/generate/pytorch_fixtures.py            # rewrite in place
    /work/venv-gen/py/bin/python Fixtures/generate/pytorch_fixtures.py --check    # regenerate into a temp dir, compare

Every valid archive is written by torch 2.15.0 itself (torch.save / torch.jit.save), except the big-endian one,
which torch cannot write on a little-endian machine: it is a torch archive with every storage byte-swapped and the
`byteorder` entry set to "big", and torch.load reads it back to the same values (checked below). The expected
values in Fixtures/expected/torch/ are what torch.load(weights_only=True) returns, never ModelKit's output.

Hostile files go to Fixtures/malformed/torch/: pickles that would run `touch /tmp/modelkit-pwned-<name>` if any
unpickler executed them (torch.load(weights_only=True) refuses each one; checked below), unsafe zip member names,
storages that are missing or too small, truncations.

ModelKit's exports (Fixtures/models/torch/modelkit_export_*.pt, written once by ModelKit's writer, see
Specs/interop/pytorch.md "Export") are loaded with torch.load(weights_only=True) and load_state_dict(strict=True)
into a fresh nn.Sequential, whose outputs must equal the original module's exactly, and loaded again with torch
computing the storage offsets itself (`.format_version` 1: mmap=True, calculate_storage_offsets=True,
TORCH_SERIALIZATION_DEBUG=1, which raises on any offset that differs from the zip's); the result, with the data
offsets torch's reader computes for large (ZIP64) header offsets and sizes, is committed as
Fixtures/expected/torch/modelkit_export_check.json.
"""

from __future__ import annotations

import argparse
import collections
import filecmp
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

# torch.jit.save writes class constants in set order, which follows Python's per-process string hash seed: pin it.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(HERE))
import generate as gen  # noqa: E402  (the example and zoo networks, built exactly as for the other fixtures)

SCRIPT = "Fixtures/generate/pytorch_fixtures.py"
TORCH_VERSION = "2.15.0"
NUMPY_VERSION = "2.4.6"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)
MARKER = "/tmp/modelkit-pwned-"

ROOT = HERE.parent.parent


def log(message: str = "") -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Describing what torch reads back


DTYPE_NAMES = {}  # torch dtype -> our DType name, filled in main() once torch is imported


def tensor_bytes(torch, tensor) -> bytes:
    """The contiguous little-endian bytes of `tensor` (what ModelKit's Tensor holds)."""
    tensor = tensor.detach().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().tobytes()
    return tensor.numpy().tobytes()


def describe_tensor(torch, name: str, tensor) -> dict:
    flat = tensor.detach().contiguous().reshape(-1)
    if tensor.dtype == torch.bool:
        values = [bool(v) for v in flat.tolist()]
    elif tensor.dtype.is_floating_point:
        values = [float(v) for v in flat.float().tolist()] if tensor.dtype == torch.bfloat16 else [float(v) for v in flat.tolist()]
    else:
        values = [int(v) for v in flat.tolist()]
    return {"name": name, "dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
            "crc32": zlib.crc32(tensor_bytes(torch, tensor)), "values": values if len(values) <= 4096 else values[:16],
            "values_complete": len(values) <= 4096}


def type_name(torch, value) -> str:
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, dict):
        return "tensor dict" if value and all(isinstance(v, torch.Tensor) for v in value.values()) else "dict"
    return {bool: "bool", int: "integer", float: "float", str: "string", list: "list", tuple: "tuple",
            type(None): "none"}.get(type(value), type(value).__name__)


def expected_document(torch, path: Path, made_by: str, sections: dict[str, dict], weights_only: bool = True) -> dict:
    """What torch.load reads: the top-level keys and, for each key path in `sections`, the tensors of the dict found
    there (the path "" is the top level). weights_only=False only for files this script just wrote itself."""
    loaded = torch.load(path, weights_only=weights_only)
    document = {"file": rel(path), "made_by": made_by,
                "read_by": f"torch {torch.__version__} torch.load(weights_only={weights_only})"}
    if isinstance(loaded, dict):
        document["top_level"] = [{"key": str(k), "type": type_name(torch, v)} for k, v in loaded.items()]
    document["sections"] = []
    for key_path, state in sections.items():
        document["sections"].append({"key": key_path,
                                     "tensors": [describe_tensor(torch, str(k), v) for k, v in state.items()]})
    return document


def rel(path: Path) -> str:
    return str(path.relative_to(OUT_ROOT))


def write_json(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    log(f"  wrote {rel(path)}")


def navigate(value, key_path: str):
    for part in key_path.split(".") if key_path else []:
        value = value[int(part)] if isinstance(value, (list, tuple)) or (isinstance(value, dict) and part.isdigit() and int(part) in value) else value[part]
    return value


# ---------------------------------------------------------------------------------------------------------------------
# Zip helpers (deterministic: fixed timestamps, stored members)


def members_of(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def torch_save(torch, obj, path: Path, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, str(path), **kwargs)  # the zip's folder is named after the file's stem


# ---------------------------------------------------------------------------------------------------------------------
# Valid archives


def small_sequential(torch):
    torch.manual_seed(11)
    nn = torch.nn
    return nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).eval()


def write_valid(torch, models: Path, expected: Path) -> None:
    net = small_sequential(torch)
    state = net.state_dict()

    for suffix, dtype in [("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
        converted = collections.OrderedDict((k, v.to(dtype)) for k, v in state.items())
        converted._metadata = state._metadata  # what module.half().state_dict() keeps
        path = models / f"sequential_{suffix}.pt"
        torch_save(torch, converted, path)
        write_json(expected / f"sequential_{suffix}.json",
                   expected_document(torch, path, f"torch.save(nn.Sequential(Linear(5,4), ReLU(), Linear(4,3)).state_dict() as {suffix})",
                                     {"": converted}))

    # A training checkpoint: the state dict under "model", Adam's state (tensors nested under integer keys) and scalars.
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    inputs = torch.randn(6, 5, generator=torch.Generator().manual_seed(12))
    net.train()
    net(inputs).pow(2).sum().backward()
    optimizer.step()
    net.eval()
    checkpoint = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3, "loss": 0.25}
    path = models / "checkpoint.pt"
    torch_save(torch, checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    write_json(expected / "checkpoint.json",
               expected_document(torch, path, "torch.save({'model': state_dict, 'optimizer': Adam.state_dict() after one step, 'epoch': 3, 'loss': 0.25})",
                                 {"model": loaded["model"], "optimizer.state.0": loaded["optimizer"]["state"][0]}))

    write_checkpoints(torch, models, expected)

    # Views: a storage offset, a transposed (non-contiguous) tensor, a strided column, a broadcast (stride 0),
    # several tensors sharing one storage, a scalar and an empty tensor.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 4
    other = torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5.5
    row = torch.tensor([1.0, -2.0, 3.0, -4.0])
    views = collections.OrderedDict([
        ("base", base),
        ("slice", base[1:3]),                  # storage offset 6, contiguous
        ("column", base[:, 2]),                # offset 2, stride (6,)
        ("block", base[1:3, 2:5]),             # offset 8, strides (6, 1)
        ("transposed", other.t()),             # strides (1, 4)
        ("other", other),                      # shares the storage with "transposed"
        ("broadcast", row.expand(3, 4)),       # strides (0, 1)
        ("scalar", torch.tensor(3.25)),        # shape []
        ("empty", torch.zeros(0, 3)),          # no elements
    ])
    path = models / "views.pt"
    torch_save(torch, views, path)
    with zipfile.ZipFile(path) as archive:
        storages = sorted(n for n in archive.namelist() if "/data/" in n)
    assert len(storages) == 5, storages  # base's storage is shared by 4 tensors, other's by 2
    write_json(expected / "views.json", expected_document(torch, path, "torch.save of views (see pytorch_fixtures.py)",
                                                          {"": views}))

    # Every dtype ModelKit reads.
    dtypes = collections.OrderedDict([
        ("float32", torch.tensor([1.5, -0.0, 3.4028234663852886e38, 1e-45], dtype=torch.float32)),
        ("float16", torch.tensor([1.5, -2.0, 65504.0, 6e-08], dtype=torch.float16)),
        ("bfloat16", torch.tensor([1.5, -2.0, 3.3895313892515355e38, 1e-40], dtype=torch.bfloat16)),
        ("float64", torch.tensor([0.1, -1e300, 5e-324], dtype=torch.float64)),
        ("int64", torch.tensor([1, -2, 2**62, -2**63], dtype=torch.int64)),
        ("int32", torch.tensor([7, -2**31, 2**31 - 1], dtype=torch.int32)),
        ("int16", torch.tensor([-32768, 32767, 5], dtype=torch.int16)),
        ("int8", torch.tensor([-128, 127, 0], dtype=torch.int8)),
        ("uint8", torch.tensor([0, 255, 17], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("matrix64", torch.arange(6, dtype=torch.float64).reshape(2, 3).t()),   # non-contiguous, 8-byte elements
    ])
    path = models / "dtypes.pt"
    torch_save(torch, dtypes, path)
    write_json(expected / "dtypes.json", expected_document(torch, path, "torch.save of one tensor per dtype", {"": dtypes}))

    # Parameters (torch._utils._rebuild_parameter) and requires_grad=True (NEWTRUE).
    params = collections.OrderedDict([("weight", torch.nn.Parameter(torch.tensor([[0.5, -1.5], [2.0, 4.0]]))),
                                      ("grad", torch.tensor([1.0, 2.0], requires_grad=True))])
    path = models / "parameters.pt"
    torch_save(torch, params, path)
    write_json(expected / "parameters.json", expected_document(torch, path, "torch.save of an nn.Parameter and a requires_grad tensor",
                                                               {"": {k: v.detach() for k, v in params.items()}}))

    # Pickle protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL.
    # torch's own weights-only unpickler does not implement FRAME (opcode 149), so this one is read back with
    # weights_only=False: safe here, the file was written a line earlier from our own state dict.
    path = models / "protocol4.pt"
    torch_save(torch, state, path, pickle_protocol=4)
    write_json(expected / "protocol4.json", expected_document(torch, path, "torch.save(state_dict, pickle_protocol=4)",
                                                              {"": state}, weights_only=False))

    # Saved to a buffer: the zip's folder is "archive", not the file's stem.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = models / "archive_prefix.pt"
    path.write_bytes(buffer.getvalue())
    assert members_of(path)[0][0].startswith("archive/")
    write_json(expected / "archive_prefix.json", expected_document(torch, path, "torch.save(state_dict, io.BytesIO())", {"": state}))

    # Big-endian: torch writes the machine's byte order, so swap a little-endian archive and say "big".
    mixed = collections.OrderedDict([
        ("weight", torch.tensor([[1.0, -2.5, 3.0], [0.125, 5e-3, -7.0]])),
        ("weight_t", torch.tensor([[1.0, -2.5, 3.0], [0.125, 5e-3, -7.0]]).t()),
        ("half", torch.tensor([1.5, -2.0, 0.1], dtype=torch.float16)),
        ("brain", torch.tensor([1.5, -2.0, 0.1], dtype=torch.bfloat16)),
        ("double", torch.tensor([0.1, -3.0], dtype=torch.float64)),
        ("long", torch.tensor([1, -2, 2**40], dtype=torch.int64)),
        ("int", torch.tensor([1, -2, 2**30], dtype=torch.int32)),
        ("short", torch.tensor([1, -2], dtype=torch.int16)),
        ("flags", torch.tensor([True, False])),
    ])
    little = models / "big_endian.little.tmp"
    torch_save(torch, mixed, little)
    item_sizes = {}
    loaded = torch.load(little, weights_only=True)
    prefix = members_of(little)[0][0].split("/")[0]
    unpickler_keys = storage_keys_and_sizes(members_of(little), prefix)
    members = []
    for name, data in members_of(little):
        short = name.split("/", 1)[1]
        if short == "byteorder":
            data = b"big"
        elif short.startswith("data/"):
            size = unpickler_keys[short[len("data/"):]]
            item_sizes[short] = size
            if size > 1:
                data = np.frombuffer(data, dtype=f"<u{size}").byteswap().tobytes()
        members.append(("big_endian/" + short, data))
    little.unlink()
    path = models / "big_endian.pt"
    write_zip(path, members)
    reread = torch.load(path, weights_only=True)
    assert all(torch.equal(reread[k], loaded[k]) for k in loaded), "torch reads the swapped archive differently"
    write_json(expected / "big_endian.json",
               expected_document(torch, path, "a torch.save archive with every storage byte-swapped and byteorder 'big' (torch.load agrees)",
                                 {"": reread}))

    # Formats we do not read, for the "re-save with torch.save(...)" message.
    path = models / "legacy.pt"
    torch_save(torch, state, path, _use_new_zipfile_serialization=False)
    make_legacy_deterministic(torch, path, state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(small_sequential(torch))
        torch.jit.save(scripted, str(models / "torchscript.pt"))
    log("  wrote legacy.pt (pre-1.6 format) and torchscript.pt (torch.jit.save)")

    # The legacy format (every torch before 1.6, and torch.save(..., _use_new_zipfile_serialization=False) today):
    # magic, protocol and sys_info pickles, the object's pickle, the storage keys, then each storage's element
    # count and bytes. ModelKit reads it like the zip archive.
    write_json(expected / "legacy.json", expected_document(torch, path, "torch.save(state_dict, _use_new_zipfile_serialization=False)",
                                                           {"": torch.load(path, weights_only=True)}))
    for stem, value, made_by in (("legacy_views", views, "torch.save(views, _use_new_zipfile_serialization=False)"),
                                 ("legacy_dtypes", dtypes, "torch.save(dtypes, _use_new_zipfile_serialization=False)"),
                                 ("legacy_checkpoint", checkpoint, "torch.save(checkpoint, _use_new_zipfile_serialization=False)")):
        path = models / f"{stem}.pt"
        torch_save(torch, value, path, _use_new_zipfile_serialization=False)
        make_legacy_deterministic(torch, path, value)
        reread = torch.load(path, weights_only=True)
        sections = ({"model": reread["model"], "optimizer.state.0": reread["optimizer"]["state"][0]}
                    if stem == "legacy_checkpoint" else {"": reread})
        write_json(expected / f"{stem}.json", expected_document(torch, path, made_by, sections))
    log("  wrote legacy_views.pt, legacy_dtypes.pt, legacy_checkpoint.pt (pre-1.6 format)")

    # The existing example (written by generate.py): record what torch reads from it.
    path = models / "example_state_dict.pt"
    write_json(expected / "example_state_dict.json",
               expected_document(torch, path, "Fixtures/generate/generate.py", {"": torch.load(path, weights_only=True)}))


def write_checkpoints(torch, models: Path, expected: Path) -> None:
    """Checkpoints beyond a bare state dict: a training checkpoint with a scheduler and the other values torch's
    weights-only allowlist admits, dicts with several state dicts and dotted keys, a top-level list, and a pickle
    built from the opcodes torch reads but torch.save (protocol 2) does not write."""
    nn = torch.nn

    # {model, optimizer, scheduler}: Adam and MultiStepLR after three steps. The scheduler's milestones are a
    # collections.Counter; 'device' is a torch.device; 'extras' holds a bytearray, a complex, a set and a Parameter.
    net = small_sequential(torch)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.5)
    inputs = torch.randn(6, 5, generator=torch.Generator().manual_seed(14))
    net.train()
    for _ in range(3):
        optimizer.zero_grad()
        net(inputs).pow(2).sum().backward()
        optimizer.step()
        scheduler.step()
    net.eval()
    extras = {"tag": bytearray(b"run-7\xff"), "phase": complex(1.5, -2.0), "seen": {3, 5},
              "scale": nn.Parameter(torch.tensor([0.5, 2.0]))}
    checkpoint = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                  "epoch": 3, "device": torch.device("cuda", 0), "extras": extras}
    path = models / "checkpoint_scheduler.pt"
    torch_save(torch, checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    assert isinstance(loaded["scheduler"]["milestones"], collections.Counter)
    document = expected_document(torch, path, "torch.save({'model', 'optimizer': Adam, 'scheduler': MultiStepLR(milestones=[2, 4]) "
                                              "after 3 steps, 'epoch', 'device': torch.device('cuda', 0), 'extras'})",
                                 {"model": loaded["model"]})
    document["scheduler"] = {"milestones": {str(k): v for k, v in loaded["scheduler"]["milestones"].items()},
                             "milestones_type": type(loaded["scheduler"]["milestones"]).__name__,
                             "last_epoch": loaded["scheduler"]["last_epoch"], "keys": list(loaded["scheduler"])}
    document["device"] = str(loaded["device"])
    document["extras"] = {"tag": list(loaded["extras"]["tag"]), "tag_type": type(loaded["extras"]["tag"]).__name__,
                          "phase": [loaded["extras"]["phase"].real, loaded["extras"]["phase"].imag],
                          "seen": sorted(loaded["extras"]["seen"]),
                          "scale": describe_tensor(torch, "scale", loaded["extras"]["scale"].detach()),
                          "scale_type": type(loaded["extras"]["scale"]).__name__}
    write_json(expected / "checkpoint_scheduler.json", document)

    # Several dicts of tensors (no single one to choose), and keys with dots: 'module.encoder' exists literally and
    # also as module -> encoder; the literal key is the one torch users mean.
    state = net.state_dict()
    half = collections.OrderedDict((k, v.half()) for k, v in state.items())
    keys = {"model": state, "ema": half,
            "module.encoder": {"weight": torch.tensor([[1.0, 2.0], [3.0, 4.0]])},
            "module": {"encoder": {"weight": torch.tensor([[-1.0]])}}}
    path = models / "several_state_dicts.pt"
    torch_save(torch, keys, path)
    loaded = torch.load(path, weights_only=True)
    write_json(expected / "several_state_dicts.json",
               expected_document(torch, path, "torch.save({'model', 'ema' (float16), 'module.encoder', 'module': {'encoder'}})",
                                 {"model": loaded["model"], "ema": loaded["ema"],
                                  "module.encoder": loaded["module.encoder"],
                                  "module>encoder": loaded["module"]["encoder"]}))

    # A top-level list: [state dict, {'epoch': 3}].
    path = models / "list_top_level.pt"
    torch_save(torch, [state, {"epoch": 3}], path)
    loaded = torch.load(path, weights_only=True)
    document = expected_document(torch, path, "torch.save([state_dict, {'epoch': 3}])", {"0": loaded[0]})
    document["top_level"] = [{"key": str(i), "type": type_name(torch, v)} for i, v in enumerate(loaded)]
    write_json(expected / "list_top_level.json", document)

    # Opcodes torch's weights-only unpickler reads that torch.save does not write: NEWOBJ of an allowlisted class
    # (OrderedDict, nn.Parameter), EMPTY_SET, SHORT_BINSTRING; over the storages of a torch-written archive.
    base = models / "sequential_f32.pt"
    members = [("archive/" + n.split("/", 1)[1], d) for n, d in members_of(base)]
    path = models / "opcodes.pt"
    write_zip(path, [(n, opcode_pickle() if n.endswith("/data.pkl") else d) for n, d in members])
    loaded = torch.load(path, weights_only=True)
    reference = torch.load(base, weights_only=True)
    assert list(loaded) == list(reference) and all(torch.equal(loaded[k], reference[k]) for k in loaded)
    assert isinstance(loaded["0.weight"], nn.Parameter) and loaded._seen == set(), loaded
    document = expected_document(torch, path, "a pickle built by pytorch_fixtures.opcode_pickle() over sequential_f32's storages",
                                 {"": {k: v.detach() for k, v in loaded.items()}})
    document["types"] = {k: type(v).__name__ for k, v in loaded.items()}
    document["attributes"] = {"_seen": sorted(loaded._seen)}
    write_json(expected / "opcodes.json", document)


def opcode_pickle() -> bytes:
    """OrderedDict created by NEWOBJ, keys as SHORT_BINSTRING, '0.weight' wrapped in NEWOBJ Parameter(tensor), and
    BUILD {'_seen': EMPTY_SET}: each opcode checked by torch.load(weights_only=True) in write_checkpoints."""
    def short(text: str) -> bytes:
        return b"U" + bytes([len(text)]) + text.encode()

    def tensor(key: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
        def ints(values):
            return b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"
        storage = b"(" + unicode("storage") + global_op("torch", "FloatStorage") + unicode(key) + unicode("cpu") \
            + b"K" + bytes([numel]) + b"tQ"
        return global_op("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00" + ints(size) + ints(stride) \
            + b"\x89" + global_op("collections", "OrderedDict") + b")Rt" + b"R"

    parameter = global_op("torch.nn.parameter", "Parameter") + b"(" + tensor("0", 20, (4, 5), (5, 1)) + b"\x88t\x81"
    body = (global_op("collections", "OrderedDict") + b")\x81" + b"("
            + short("0.weight") + parameter
            + short("0.bias") + tensor("1", 4, (4,), (1,))
            + short("2.weight") + tensor("2", 12, (3, 4), (4, 1))
            + short("2.bias") + tensor("3", 3, (3,), (1,))
            + b"u" + b"}" + short("_seen") + b"\x8f" + b"s" + b"b")
    return b"\x80\x02" + body + b"."


def make_legacy_deterministic(torch, path: Path, state) -> None:
    """The legacy format names storages by their memory address (str(storage._cdata)) and writes them in the sorted
    order of those names, so two runs differ. Each key is renamed to the index of its first use in the object's
    pickle and the storages are written in that order (protocol 2 pickles hold no byte offsets, so lengths may
    change); torch must still read the same values."""
    import pickletools
    data = path.read_bytes()
    stream = io.BytesIO(data)
    pickles = []
    for _ in range(5):  # magic, protocol, sys_info, the object, the storage keys
        start = stream.tell()
        for _opcode, _argument, _position in pickletools.genops(stream):
            pass
        pickles.append(data[start:stream.tell()])
    body = data[stream.tell():]
    keys = pickle.loads(pickles[4])
    sizes = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8,
             "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}
    element_size, order = {}, []

    class Scanner(pickle.Unpickler):  # only ever run on a file torch itself just wrote
        def find_class(self, module, name):
            if module == "torch" and name in sizes:
                return name
            if module == "torch._utils":
                return lambda *args: None
            return super().find_class(module, name)

        def persistent_load(self, pid):
            _kind, storage_type, key, _location, _count, view = pid
            assert view is None, pid
            element_size[key] = sizes[storage_type]
            if key not in order:
                order.append(key)

    Scanner(io.BytesIO(pickles[3])).load()
    assert sorted(order) == sorted(keys), (order, keys)
    blocks, offset = {}, 0
    for key in keys:  # each storage: its element count (int64) and its bytes
        count, = struct.unpack_from("<q", body, offset)
        blocks[key] = body[offset:offset + 8 + count * element_size[key]]
        offset += len(blocks[key])
    assert offset == len(body), (offset, len(body))
    encoded = lambda text: b"X" + struct.pack("<I", len(text)) + text.encode()
    main = pickles[3]
    for index, key in enumerate(order):
        assert main.count(encoded(key)) >= 1, key
        main = main.replace(encoded(key), encoded(str(index)))
    renamed_keys = pickle.dumps([str(index) for index in range(len(order))], protocol=2)
    path.write_bytes(pickles[0] + pickles[1] + pickles[2] + main + renamed_keys + b"".join(blocks[key] for key in order))
    assert same_values(torch, torch.load(path, weights_only=True), state), path


def same_values(torch, a, b) -> bool:
    """Deep equality of what torch.load returns: tensors by dtype, shape and values; containers by their items."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_values(torch, a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_values(torch, x, y) for x, y in zip(a, b))
    return a == b


def storage_keys_and_sizes(members, prefix: str) -> dict[str, int]:
    """Storage key -> element size, from data.pkl's persistent ids. Only ever run on archives torch itself just
    wrote; every other class is refused."""
    sizes = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8,
             "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}
    result = {}

    class Scanner(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch" and name in sizes:
                return name
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda *args: None
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

        def persistent_load(self, pid):
            _, storage_type, key, _, _ = pid
            result[key] = sizes[storage_type]

    Scanner(io.BytesIO(dict(members)[f"{prefix}/data.pkl"])).load()
    return result


# ---------------------------------------------------------------------------------------------------------------------
# Hostile files


def proto2(*parts: bytes) -> bytes:
    return b"\x80\x02" + b"".join(parts) + b"."


def unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def evil_call(module: str, name: str, marker: str) -> bytes:
    """GLOBAL module.name, then REDUCE it on ('touch <marker>',) (or its list form for Popen)."""
    command = f"touch {MARKER}{marker}"
    if name == "Popen":
        argument = b"]" + b"(" + b"".join(unicode(part) for part in command.split(" ")) + b"e" + b"\x85"
    else:
        argument = unicode(command if name != "eval" else f"__import__('os').system('{command}')") + b"\x85"
    return global_op(module, name) + argument + b"R"


def write_malformed(torch, models: Path, malformed: Path) -> None:
    state_path = models / "sequential_f32.pt"
    good = members_of(state_path)
    good_prefixed = [("archive/" + name.split("/", 1)[1], data) for name, data in good]

    def with_pickle(pickle_bytes: bytes) -> list[tuple[str, bytes]]:
        return [(name, pickle_bytes if name.endswith("/data.pkl") else data) for name, data in good_prefixed]

    evil = {
        "os_system": evil_call("os", "system", "os_system"),
        "posix_system": evil_call("posix", "system", "posix_system"),
        "builtins_eval": evil_call("builtins", "eval", "builtins_eval"),
        "builtin_eval": evil_call("__builtin__", "eval", "builtin_eval"),
        "subprocess_popen": evil_call("subprocess", "Popen", "subprocess_popen"),
        "builtin_getattr": global_op("__builtin__", "getattr") + global_op("os", "path") + unicode("exists") + b"\x86R"
                           + unicode(MARKER + "builtin_getattr") + b"\x85R",
        "torch_load": global_op("torch", "load") + unicode(MARKER + "torch_load") + b"\x85R",
        "rebuild_lookalike": global_op("torch._utils", "_rebuild_tensor_v2x") + b")R",
    }
    for name, body in evil.items():
        write_zip(malformed / f"evil_{name}.pt", with_pickle(proto2(body)))
    # Protocol 4: the global's name comes from two strings on the stack (STACK_GLOBAL).
    stack_global = (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
                    + b"\x8c" + bytes([len(f"touch {MARKER}stack_global")]) + f"touch {MARKER}stack_global".encode()
                    + b"\x85R.")
    write_zip(malformed / "evil_stack_global.pt", with_pickle(stack_global))

    # A real torch.save whose state dict also holds an object that reduces to os.system (written by torch's own
    # pickler, so the global is 'posix system' on Linux), after two legitimate tensors.
    class Pwn:
        def __reduce__(self):
            return (os.system, (f"touch {MARKER}inside_state_dict",))
    hostile = collections.OrderedDict(torch.load(state_path, weights_only=True))
    hostile["zz_payload"] = Pwn()
    torch_save(torch, hostile, malformed / "evil_inside_state_dict.pt")

    # Raw pickles (not zip archives): what a legacy-format reader would unpickle.
    (malformed / "evil_raw_os_system.pkl").write_bytes(proto2(evil_call("os", "system", "raw_os_system")))
    (malformed / "evil_raw_eval.pt").write_bytes(proto2(evil_call("builtins", "eval", "raw_eval")))

    for name in sorted(p.name for p in malformed.glob("evil_*")):
        path = malformed / name
        try:
            torch.load(path, weights_only=True)
        except Exception:  # noqa: BLE001  (torch refuses: pickle.UnpicklingError or RuntimeError)
            continue
        raise SystemExit(f"error: torch.load(weights_only=True) accepted {name}")
    leftovers = [p for p in Path("/tmp").glob("modelkit-pwned-*")]
    assert not leftovers, f"torch executed a payload: {leftovers}"
    log("  torch.load(weights_only=True) refuses every evil_* file")

    # Unsafe member names.
    write_zip(malformed / "zip_dotdot.pt", [("archive/../../evil/" + n.split("/", 1)[1], d) for n, d in good_prefixed])
    write_zip(malformed / "zip_absolute.pt", [("/" + n, d) for n, d in good_prefixed])
    write_zip(malformed / "zip_backslash.pt", [(n.replace("/", "\\"), d) for n, d in good_prefixed])
    # A storage that is referenced but absent.
    write_zip(malformed / "missing_storage.pt", [(n, d) for n, d in good_prefixed if not n.endswith("/data/1")])
    # A tensor whose size reaches past its storage: 0.weight's size (4, 5) becomes (5, 5) over 20 elements.
    data_pkl = dict(good_prefixed)["archive/data.pkl"]
    too_big = data_pkl.replace(b"K\x00K\x04K\x05\x86", b"K\x00K\x05K\x05\x86", 1)
    assert too_big != data_pkl
    write_zip(malformed / "storage_too_small.pt", with_pickle(too_big))
    # A stride that reaches outside the storage: 0.weight's strides (5, 1) become (9, 1).
    strided = data_pkl.replace(b"K\x05K\x01\x86", b"K\x09K\x01\x86", 1)
    assert strided != data_pkl
    write_zip(malformed / "stride_outside_storage.pt", with_pickle(strided))
    # The persistent id claims more elements than the storage record holds: ('storage', FloatStorage, '0', 'cpu', 20) -> 21.
    lying = data_pkl.replace(unicode("cpu") + b"q\x07K\x14", unicode("cpu") + b"q\x07K\x15", 1)
    assert lying != data_pkl
    write_zip(malformed / "storage_record_short.pt", with_pickle(lying))
    # data.pkl cut short (the zip itself is intact).
    write_zip(malformed / "truncated_pickle.pt", with_pickle(data_pkl[: len(data_pkl) // 2]))
    # No data.pkl at all.
    write_zip(malformed / "no_data_pkl.pt", [(n, d) for n, d in good_prefixed if not n.endswith("data.pkl")])
    # An unknown byte order.
    write_zip(malformed / "bad_byteorder.pt",
              [(n, b"middle" if n.endswith("/byteorder") else d) for n, d in good_prefixed])
    # 100,000 nested lists: a stack/nesting bomb.
    write_zip(malformed / "nesting_bomb.pt", with_pickle(b"\x80\x02" + b"(" * 100_000 + b"]" + b"l" * 100_000 + b"."))
    # An opcode we do not implement (EXT1) and one that does not exist.
    write_zip(malformed / "unknown_opcode.pt", with_pickle(b"\x80\x02\x82\x01."))
    # A storage record whose bytes no longer match the CRC-32 the zip records for them (one bit flipped in place).
    write_zip(malformed / "storage_crc_mismatch.pt", good_prefixed)
    with zipfile.ZipFile(malformed / "storage_crc_mismatch.pt") as archive:
        info = archive.getinfo("archive/data/0")
    raw = bytearray((malformed / "storage_crc_mismatch.pt").read_bytes())
    name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    raw[info.header_offset + 30 + name_length + extra_length + 5] ^= 0x01
    (malformed / "storage_crc_mismatch.pt").write_bytes(bytes(raw))
    # ModelKit's architecture entry holding something that is not an architecture (written by torch.save).
    bad = torch.load(state_path, weights_only=True)
    bad._metadata = collections.OrderedDict([("", {"version": 1}), ("modelkit", {"architecture": '[{"type": "conv2d", "filters": 3}]'})])
    torch_save(torch, bad, malformed / "bad_architecture.pt")
    # A pickle that is not a torch.save file at all (Python's own pickle, protocol 2).
    (malformed / "bare_pickle.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0], "epoch": 3}, protocol=2))
    # Truncated archives: cut inside a storage and inside the central directory.
    whole = state_path.read_bytes()
    (malformed / "truncated_half.pt").write_bytes(whole[: len(whole) // 2])
    (malformed / "truncated_tail.pt").write_bytes(whole[:-10])
    log(f"  wrote {len(list(malformed.iterdir()))} files under {rel(malformed)}")


# ---------------------------------------------------------------------------------------------------------------------
# ModelKit's own exports, checked live with torch


EXPORTS = {
    # file: (how to build the original module, the input batch, expected layout facts)
    "modelkit_export_example.pt": ("example", "Fixtures/expected/example/batch50.input.npy"),
    "modelkit_export_zoo.pt": ("zoo", "Fixtures/expected/zoo/batch7.input.npy"),
}


COMPUTED_OFFSETS_LOAD = ("torch.load(path, weights_only=True, mmap=True) with "
                         "torch.utils.serialization.config.load.calculate_storage_offsets = True and TORCH_SERIALIZATION_DEBUG=1")


def load_with_computed_offsets(torch, path: Path):
    """torch.load as COMPUTED_OFFSETS_LOAD says: with `.format_version` 1, torch computes each storage's offset from
    its own zip layout rules instead of reading the local header; the debug flag makes it compare the two and raise
    "Incorrect offset for data/N" when the file is not laid out as torch lays it out."""
    from torch.utils.serialization import config
    previous_flag, previous_env = config.load.calculate_storage_offsets, os.environ.get("TORCH_SERIALIZATION_DEBUG")
    config.load.calculate_storage_offsets = True
    os.environ["TORCH_SERIALIZATION_DEBUG"] = "1"
    try:
        return torch.load(path, weights_only=True, mmap=True)
    finally:
        config.load.calculate_storage_offsets = previous_flag
        if previous_env is None:
            os.environ.pop("TORCH_SERIALIZATION_DEBUG", None)
        else:
            os.environ["TORCH_SERIALIZATION_DEBUG"] = previous_env


def read_member(path: Path, name: str):
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode() if name in archive.namelist() else None


def check_exports(torch, models: Path, expected: Path) -> None:
    results = []
    for name, (network, inputs_path) in EXPORTS.items():
        path = models / name
        if not path.exists():
            log(f"  warning: {rel(path)} is missing (write it with ModelKit first, see Specs/interop/pytorch.md); skipped")
            continue
        original = gen.build_example(torch) if network == "example" else gen.build_zoo(torch, "log_softmax")
        fresh = gen.build_example(torch) if network == "example" else gen.build_zoo(torch, "log_softmax")
        with torch.no_grad():
            for parameter in fresh.parameters():
                parameter.zero_()  # so that only the loaded weights can make the outputs equal
        state = torch.load(path, weights_only=True)
        computed = load_with_computed_offsets(torch, path)
        same_values = list(computed) == list(state) and all(torch.equal(computed[k], state[k]) for k in state)
        if not same_values:
            raise SystemExit(f"error: {name} reads differently when torch computes the storage offsets")
        result = fresh.load_state_dict(state, strict=True)
        inputs = torch.from_numpy(np.load(ROOT / inputs_path))
        with torch.no_grad():
            expected_out = original(inputs)
            actual_out = fresh(inputs)
        difference = float((expected_out - actual_out).abs().max())
        metadata = getattr(state, "_metadata", None)
        with zipfile.ZipFile(path) as archive:
            entries = [{"name": info.filename, "offset": info.header_offset, "size": info.file_size,
                        "stored": info.compress_type == zipfile.ZIP_STORED} for info in archive.infolist()]
            data_offsets = {}
            raw = path.read_bytes()
            for info in archive.infolist():
                name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
                data_offsets[info.filename] = info.header_offset + 30 + name_length + extra_length
        aligned = all(offset % 64 == 0 for member, offset in data_offsets.items() if "/data/" in member)
        results.append({
            "file": rel(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "crc32": zlib.crc32(path.read_bytes()),
            "loaded_with": "torch.load(path, weights_only=True)",
            "format_version": read_member(path, "archive/.format_version"),
            "computed_offsets_load": COMPUTED_OFFSETS_LOAD,
            "computed_offsets_values_equal": same_values,
            "load_state_dict": f"strict=True: missing {list(result.missing_keys)}, unexpected {list(result.unexpected_keys)}",
            "keys": list(state.keys()),
            "dtypes": {k: DTYPE_NAMES[v.dtype] for k, v in state.items()},
            "metadata": {k: v for k, v in metadata.items()} if metadata is not None else None,
            "inputs": inputs_path,
            "max_abs_difference": difference,
            "outputs_equal": bool(torch.equal(expected_out, actual_out)),
            "storages_64_byte_aligned": aligned,
            "entries": entries,
        })
        log(f"  {name}: loaded by torch, strict load_state_dict ok, max |difference| {difference}")
        if not torch.equal(expected_out, actual_out) or not aligned:
            raise SystemExit(f"error: {name} does not reproduce the original module (difference {difference}, aligned {aligned})")
    write_json(expected / "modelkit_export_check.json",
               {"checked_by": f"{SCRIPT} with torch {torch.__version__}", "exports": results,
                "computed_offsets": computed_offsets(torch, models)})


def computed_offsets(torch, models: Path) -> list[dict]:
    """Where torch's reader expects a record's data when it computes offsets (`get_record_offset_no_read`, pure
    arithmetic on the header offset, name and size), including the ZIP64 cases no small file reaches: ModelKit's
    writer must put the data exactly there."""
    reader = torch._C.PyTorchFileReader(str(models / "archive_prefix.pt"))  # folder 'archive', as in our exports
    rows = []
    for header_offset in [0, 100, 1_000_003, 0xFFFF_FFBE, 0xFFFF_FFFE, 0xFFFF_FFFF, 0x1_0000_0040]:
        for size in [0, 10, 0xFFFF_FFFE, 0xFFFF_FFFF, 0x1_2345_6789]:
            rows.append({"record": "data/11", "header_offset": header_offset, "size": size,
                         "data_offset": reader.get_record_offset_no_read(header_offset, "data/11", size, 64)})
    return rows


# ---------------------------------------------------------------------------------------------------------------------


OUT_ROOT = ROOT


def generate(root: Path) -> None:
    global OUT_ROOT
    OUT_ROOT = root
    import torch
    if torch.__version__.split("+")[0] != TORCH_VERSION or np.__version__ != NUMPY_VERSION:
        sys.exit(f"torch {torch.__version__} / numpy {np.__version__} found; the fixtures are pinned to torch "
                 f"{TORCH_VERSION} and numpy {NUMPY_VERSION} (Fixtures/generate/requirements.txt)")
    gen.make_deterministic()
    DTYPE_NAMES.update({torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
                        torch.float64: "float64", torch.int64: "int64", torch.int32: "int32", torch.int16: "int16",
                        torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool"})
    models = root / "Fixtures/models/torch"
    expected = root / "Fixtures/expected/torch"
    malformed = root / "Fixtures/malformed/torch"
    for folder in (models, expected, malformed):
        folder.mkdir(parents=True, exist_ok=True)
    if root != ROOT:  # --check: inputs that this script does not write
        for relative in ["Fixtures/models/torch/example_state_dict.pt", *[f"Fixtures/models/torch/{n}" for n in EXPORTS]]:
            if (ROOT / relative).exists():
                (root / relative).write_bytes((ROOT / relative).read_bytes())
    for stale in Path("/tmp").glob("modelkit-pwned-*"):
        stale.unlink()
    log("valid archives")
    write_valid(torch, models, expected)
    log("hostile files")
    write_malformed(torch, models, malformed)
    log("ModelKit's exports")
    check_exports(torch, models, expected)


def same_torch_contents(new: Path, committed: Path) -> bool:
    import torch
    a, b = torch.load(new, weights_only=True), torch.load(committed, weights_only=True)
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


# Files torch does not write byte-for-byte reproducibly; --check compares what they hold instead.
NOT_BYTE_STABLE = {
    # the legacy format orders its storages by memory address (keys are renamed, but the order stays)
    "legacy.pt": same_torch_contents,
}


def check() -> int:
    with tempfile.TemporaryDirectory() as directory:
        generate(Path(directory))
        different = []
        for folder in ["Fixtures/models/torch", "Fixtures/expected/torch", "Fixtures/malformed/torch"]:
            for path in sorted((Path(directory) / folder).iterdir()):
                committed = ROOT / folder / path.name
                if not committed.exists():
                    different.append(f"{folder}/{path.name} (not committed)")
                elif path.name in NOT_BYTE_STABLE:
                    if not NOT_BYTE_STABLE[path.name](path, committed):
                        different.append(f"{folder}/{path.name}")
                elif not filecmp.cmp(path, committed, shallow=False):
                    different.append(f"{folder}/{path.name}")
        if different:
            log("differs from the committed files: " + ", ".join(different))
            return 1
        log("all files identical")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare")
    args = parser.parse_args()
    if args.check:
        return check()
    generate(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
