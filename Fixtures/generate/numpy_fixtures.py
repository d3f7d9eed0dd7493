#!/usr/bin/env python3
"""Writes the NumPy fixtures: valid .npy/.npz files plus expected.json, and malformed files.

Run with the pinned numpy (2.4.6): /work/venv-gen/py/bin/python Fixtures/generate/numpy_fixtures.py

Every valid file is written by numpy itself, and expected.json records what numpy reads back from it (dtype, shape,
values in C order), so the Swift tests compare against numpy, never against our own output. The output is
deterministic: zip timestamps are pinned (zipfile stamps members with the current time) and no random numbers are
used, so running the script twice gives identical bytes.
"""

import io
import json
import os
import pickle
import struct
import sys
import time
import zipfile
import warnings
import zlib
from pathlib import Path

os.environ["TZ"] = "UTC"
time.tzset()
# zipfile stamps each member written through ZipFile.open(name, "w") (what np.savez uses) with time.time().
FIXED_TIME = 1_577_836_800.0  # 2020-01-01T00:00:00Z
time.time = lambda: FIXED_TIME

import numpy as np  # noqa: E402  (after the clock is pinned)

if np.__version__ != "2.4.6":
    sys.exit(f"numpy {np.__version__} found; the fixtures are pinned to numpy 2.4.6")

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "Fixtures" / "models" / "numpy"
MALFORMED = ROOT / "Fixtures" / "malformed" / "numpy"

DTYPE_NAMES = {
    np.dtype(np.float16): "float16", np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
    np.dtype(np.int8): "int8", np.dtype(np.int16): "int16", np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8", np.dtype(np.bool_): "bool",
}


def dtype_name(dtype):
    """Our DType name for a numpy dtype, whatever its byte order."""
    return DTYPE_NAMES[dtype.newbyteorder("=")]


def describe(array):
    """What numpy sees: dtype, shape and the values in C order (exact: float32/16 values are exact doubles)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    values = [bool(v) for v in flat] if array.dtype == np.bool_ else flat.tolist()
    return {"dtype": dtype_name(array.dtype), "shape": list(array.shape), "values": values}


def header_facts(path):
    """The format version and header fields numpy recorded, read back with numpy's own header reader."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version in reader:
            shape, fortran, dtype = reader[version](f)
        else:  # 3.0 has no public header reader; the header is UTF-8 text after a u32 length.
            (length,) = struct.unpack("<I", f.read(4))
            import ast
            d = ast.literal_eval(f.read(length).decode("utf-8"))
            shape, fortran, dtype = d["shape"], d["fortran_order"], np.dtype(d["descr"])
        data_offset = f.tell()
    return {"version": f"{version[0]}.{version[1]}", "descr": dtype.str, "fortran_order": bool(fortran),
            "data_offset": data_offset}


def save(name, array, version=None):
    path = VALID / name
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape and np.array_equal(loaded, array)
    entry = {"file": name}
    entry.update(header_facts(path))
    entry.update(describe(loaded))
    return entry


def archive_entry(name, compressed):
    path = VALID / name
    members = []
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            array = npz[key]
            member = {"name": key}
            member.update(describe(array))
            members.append(member)
    with zipfile.ZipFile(path) as z:
        methods = sorted({info.compress_type for info in z.infolist()})
    return {"file": name, "compressed": compressed, "zip_methods": methods, "members": members}


def compact_json(value, indent=""):
    """JSON with one line per file or member entry: readable diffs without one line per number."""
    inner = indent + " "
    if isinstance(value, dict) and any(isinstance(v, (list, dict)) and not is_leaf_entry(v) for v in value.values()):
        items = [f"{inner}{json.dumps(k)}: {compact_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(inner + compact_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def is_leaf_entry(value):
    return not (isinstance(value, list) and value and all(isinstance(v, dict) for v in value))


def savez_zip64(path, **arrays):
    """np.savez with zipfile's ZIP64 thresholds lowered, so that this small archive uses every ZIP64 structure
    (saturated sizes and offsets with ZIP64 extra fields in the central directory, the ZIP64 end record and its
    locator) the way a multi-gigabyte .npz does."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 16, 1
    try:
        np.savez(path, **arrays)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved
    raw = Path(path).read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw, "no ZIP64 end record"


def valid_fixtures():
    VALID.mkdir(parents=True, exist_ok=True)
    base = (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5) * np.float32(0.1)  # inexact float32 values
    cube = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.5) - 3).astype(np.float32)
    files = [
        save("float32_v1.npy", base),
        save("float32_v2.npy", base, version=(2, 0)),
        save("float32_v3.npy", base, version=(3, 0)),
        save("float32_big_endian.npy", base.astype(">f4")),
        save("float32_fortran.npy", np.asfortranarray(base)),
        save("float32_3d.npy", cube),
        save("float32_3d_fortran.npy", np.asfortranarray(cube)),
        save("float64_big_endian_fortran.npy", np.asfortranarray((cube.astype(np.float64) / 3).astype(">f8"))),
        save("float32_0d.npy", np.array(1.25, dtype=np.float32)),
        save("float32_1d.npy", np.array([0.5, -1.0, 1e-8, 3.4e38, -0.0], dtype=np.float32)),
        save("float32_empty.npy", np.zeros((0, 3), dtype=np.float32)),
        save("float16.npy", np.array([[0.1, -2.5], [65504, 6e-8]], dtype=np.float16)),
        save("float16_big_endian.npy", np.array([1.5, -0.333], dtype=">f2")),
        save("float64.npy", np.array([[1 / 3, -1e300], [2.5e-310, 7.0]], dtype=np.float64)),
        save("int8.npy", np.array([-128, -1, 0, 127], dtype=np.int8)),
        save("int16_big_endian.npy", np.array([[-32768, 300], [-2, 32767]], dtype=">i2")),
        save("int32.npy", np.array([-2147483648, 7, 2147483647], dtype=np.int32)),
        save("int32_big_endian.npy", np.array([-2147483648, 7, 2147483647], dtype=">i4")),
        save("int64.npy", np.array([[-(2**63), 2**53 + 1], [2**62 + 3, 42]], dtype=np.int64)),
        save("int64_big_endian.npy", np.array([-(2**63), 2**53 + 1, 2**62 + 3], dtype=">i8")),
        save("uint8.npy", np.array([[0, 1, 254, 255]], dtype=np.uint8)),
        save("bool.npy", np.array([[True, False, True], [False, False, True]])),
    ]

    a = np.arange(12, dtype=np.float32).reshape(3, 4) / np.float32(7)
    b = np.array([1, -2, 3], dtype=np.int64)
    c = np.array([[0.25, 0.5]], dtype=np.float64)
    z = np.zeros((16, 64), dtype=np.float32)
    np.savez(VALID / "stored.npz", weights=a, labels=b, scale=c)
    np.savez_compressed(VALID / "deflated.npz", weights=a, labels=b, zeros=z)
    np.savez(VALID / "positional.npz", a, b)  # members arr_0, arr_1
    np.savez(VALID / "single.npz", x=cube)
    savez_zip64(VALID / "zip64.npz", weights=a, labels=b)
    archives = [
        archive_entry("stored.npz", False),
        archive_entry("deflated.npz", True),
        archive_entry("positional.npz", False),
        archive_entry("single.npz", False),
        archive_entry("zip64.npz", False),
    ]
    expected = {"generator": "Fixtures/generate/numpy_fixtures.py", "numpy": np.__version__,
                "files": files, "archives": archives}
    with open(VALID / "expected.json", "w") as f:
        f.write(compact_json(expected) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Malformed files. Each is built from raw bytes so that it is exactly the damage named.

def npy_bytes(header_text, data=b"", version=(1, 0), pad=True):
    """A .npy file with a literal header text (padded like numpy unless pad is False)."""
    header = header_text.encode("latin1" if version < (3, 0) else "utf-8")
    fmt = "<H" if version == (1, 0) else "<I"
    prefix_len = 6 + 2 + struct.calcsize(fmt)
    if pad:
        total = prefix_len + len(header) + 1
        header += b" " * ((64 - total % 64) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(header)) + header + data


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, payload)
    return bytearray(buf.getvalue())


def central_entry_offset(data, index=0):
    """Offset of the index-th central directory header."""
    offset = data.find(b"PK\x01\x02")
    for _ in range(index):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        offset += 46 + name_len + extra_len + comment_len
    return offset


def malformed_fixtures():
    MALFORMED.mkdir(parents=True, exist_ok=True)
    good_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    six_floats = np.arange(6, dtype="<f4").tobytes()
    good = npy_bytes(good_header, six_floats)
    out = {}

    out["bad_magic.npy"] = b"\x93NUMPZ" + good[6:]
    out["empty.npy"] = b""
    out["unsupported_version.npy"] = good[:6] + bytes([4, 0]) + good[8:]
    out["truncated_header.npy"] = good[:40]
    out["truncated_data.npy"] = good[:-10]
    out["trailing_data.npy"] = good + b"\x00" * 8
    out["huge_shape.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }",
                                      six_floats)
    out["overflow_shape.npy"] = npy_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", six_floats)
    out["negative_shape.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }",
                                          six_floats)
    out["garbage_shape.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': ('two', 3), }",
                                         six_floats)
    out["shape_not_tuple.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': 6, }", six_floats)
    out["unterminated_dict.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ",
                                             six_floats)
    out["missing_key.npy"] = npy_bytes("{'descr': '<f4', 'shape': (2, 3), }", six_floats)
    out["extra_key.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }",
                                     six_floats)
    out["duplicate_key.npy"] = npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
                                         "'shape': (2, 3), }", six_floats)
    out["fortran_not_bool.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", six_floats)
    out["header_length_past_end.npy"] = good[:8] + struct.pack("<H", 60000) + good[10:]
    out["header_too_long.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                                           + " " * 20000, six_floats, version=(2, 0))
    out["not_a_dict.npy"] = npy_bytes("['descr', '<f4']", six_floats)
    out["rank_too_large.npy"] = npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                          "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }", b"\x00" * 4)

    # Valid numpy files whose dtype we refuse, written by numpy itself.
    def numpy_file(array, allow_pickle=False):
        f = io.BytesIO()
        np.lib.format.write_array(f, array, allow_pickle=allow_pickle)
        return f.getvalue()

    out["object_dtype.npy"] = numpy_file(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    out["complex64.npy"] = numpy_file(np.array([1 + 2j], dtype=np.complex64))
    out["unicode.npy"] = numpy_file(np.array(["ab", "c"]))
    out["datetime64.npy"] = numpy_file(np.array(["2020-01-01"], dtype="datetime64[D]"))
    out["structured.npy"] = numpy_file(np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
    out["uint32.npy"] = numpy_file(np.array([1, 2], dtype=np.uint32))
    out["long_double.npy"] = npy_bytes("{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", b"\x00" * 16)

    out["x.npy"] = (b"version https://git-lfs.github.com/spec/v1\n"
                    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                    b"size 12345\n")

    # Archives. A member that would escape the extraction directory.
    out["evil_member.npz"] = bytes(zip_bytes([("weights.npy", good), ("../evil.npy", good)]))
    out["absolute_member.npz"] = bytes(zip_bytes([("/etc/evil.npy", good)]))
    out["backslash_member.npz"] = bytes(zip_bytes([("dir\\evil.npy", good)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        out["duplicate_member.npz"] = bytes(zip_bytes([("a.npy", good), ("a.npy", good)]))

    # A stored member whose central directory claims 1 GB (its bytes would run past the end of the file).
    lie = zip_bytes([("weights.npy", good)])
    cd = central_entry_offset(lie)
    struct.pack_into("<II", lie, cd + 20, 10**9, 10**9)
    out["lying_size_stored.npz"] = bytes(lie)

    # A deflated member that inflates to more bytes than its declared uncompressed size.
    lie = zip_bytes([("weights.npy", good)], zipfile.ZIP_DEFLATED)
    cd = central_entry_offset(lie)
    struct.pack_into("<I", lie, cd + 24, len(good) - 16)
    out["lying_size_deflated.npz"] = bytes(lie)

    # A zip bomb: 4 GiB of zeros claimed from a few kilobytes (declared size far beyond any deflate ratio).
    bomb = zip_bytes([("weights.npy", zlib.compress(b"\x00" * 4096))], zipfile.ZIP_DEFLATED)
    cd = central_entry_offset(bomb)
    struct.pack_into("<I", bomb, cd + 24, 0xFFFFFFF0)
    out["bomb.npz"] = bytes(bomb)

    # A deflate stream that never ends: one non-final stored block that claims 65535 bytes (hangs ZIPFoundation
    # 0.9.20's Archive.extract, which loops forever on an exhausted input).
    hang = zip_bytes([("weights.npy", b"\x00" + struct.pack("<HH", 65535, 0))])
    struct.pack_into("<H", hang, 8, 8)  # local header: method deflate
    cd = central_entry_offset(hang)
    struct.pack_into("<H", hang, cd + 10, 8)
    out["unterminated_deflate.npz"] = bytes(hang)

    # A member whose CRC-32 does not match its bytes.
    crc = zip_bytes([("weights.npy", good)])
    crc[crc.find(b"\x93NUMPY") + 100] ^= 0xFF
    out["crc_mismatch.npz"] = bytes(crc)

    # A valid zip whose member is not a .npy array, and an archive cut short.
    out["corrupt_member.npz"] = bytes(zip_bytes([("weights.npy", b"\x93NUMPZ" + good[6:])]))
    out["truncated.npz"] = bytes(zip_bytes([("weights.npy", good)]))[:150]

    for name, data in out.items():
        (MALFORMED / name).write_bytes(data)


if __name__ == "__main__":
    valid_fixtures()
    malformed_fixtures()
    print(f"wrote {VALID} and {MALFORMED}")
