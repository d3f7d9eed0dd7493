#!/usr/bin/env python3
"""Writes Fixtures/malformed/hostile/: hostile inputs of issue 8 that are easier to build with the real tools than
by hand in a test (the rest are generated inside Tests/*/HostileInputTests.swift). Specs/security.md lists every
threat and the test that covers it.

Run with the pinned numpy and safetensors (Fixtures/generate/requirements.txt):
    /work/venv-gen/py/bin/python Fixtures/generate/hostile_inputs.py

Deterministic: zip members carry a fixed date and no random numbers are used.
"""

import io
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save as safetensors_save

PINNED = {"numpy": "2.4.6"}
if np.__version__ != PINNED["numpy"]:
    sys.exit(f"numpy {np.__version__} found; the fixtures are pinned to numpy {PINNED['numpy']}")

OUT = Path(__file__).resolve().parents[2] / "Fixtures" / "malformed" / "hostile"
MODELS = Path(__file__).resolve().parents[2] / "Fixtures" / "models"
DATE = (2020, 1, 1, 0, 0, 0)


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def zip_archive(members):
    """members: (ZipInfo-or-name, payload) pairs, stored, fixed dates."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for info, payload in members:
            if isinstance(info, str):
                info = zipfile.ZipInfo(info, date_time=DATE)
            archive.writestr(info, payload)
    return bytearray(buf.getvalue())


def symlink_member_npz():
    """A member whose Unix mode is a symbolic link to /etc/passwd, next to a good array. `unzip` would create the
    link; ModelKit never writes members to disk, so the link target is just the member's (non-.npy) bytes."""
    link = zipfile.ZipInfo("weights.npy", date_time=DATE)
    link.create_system = 3  # Unix
    link.external_attr = (0o120777 << 16)  # S_IFLNK | 0777
    return zip_archive([("good.npy", npy(np.arange(6, dtype="<f4").reshape(2, 3))), (link, b"/etc/passwd")])


def invalid_utf8_member_npz():
    """A member name that is not UTF-8 although the UTF-8 flag (general purpose bit 11) is set."""
    data = zip_archive([("weights.npy", npy(np.arange(6, dtype="<f4")))])
    placeholder = b"weights.npy"
    hostile = b"weights\xff\xfe.npy"[: len(placeholder)]  # same length, so every offset stays valid
    for signature, name_offset, flags_offset in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
        at = data.find(signature)
        assert data[at + name_offset: at + name_offset + len(placeholder)] == placeholder
        data[at + name_offset: at + name_offset + len(placeholder)] = hostile
        flags, = struct.unpack_from("<H", data, at + flags_offset)
        struct.pack_into("<H", data, at + flags_offset, flags | 0x0800)
    return data


def member_count_2_to_40_npz():
    """A zip64 end-of-central-directory record claiming 2^40 members (and a directory of 2^40 × 46 bytes) in a
    file of a few hundred bytes."""
    data = zip_archive([("weights.npy", npy(np.arange(6, dtype="<f4")))])
    eocd = data.rfind(b"PK\x05\x06")
    cd_offset, = struct.unpack_from("<I", data, eocd + 16)
    zip64_eocd_offset = eocd
    count = 1 << 40
    zip64_eocd = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, count * 46, cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, zip64_eocd_offset, 1)
    eocd_record = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(data[:eocd]) + zip64_eocd + locator + eocd_record


def non_finite_safetensors():
    """NaN and ±Inf weights: loadable, with a note (a warning, not an error)."""
    weight = np.array([[1.0, np.nan], [np.inf, -np.inf]], dtype="<f4")
    return safetensors_save({"0.weight": weight, "0.bias": np.zeros(2, dtype="<f4")})


# Text that would clear the screen, set the terminal title, start a new line and reverse the rest of the line
# ("Trojan Source") if a reader printed it as it is.
TERMINAL_ATTACK = "\x1b[2J\x1b]0;pwned\x07\nfake line\u202eevil"


def terminal_escape_member_npz():
    """np.savez output whose second member name carries terminal control sequences: refused by name, escaped."""
    return zip_archive([("weights.npy", npy(np.arange(6, dtype="<f4"))),
                        (TERMINAL_ATTACK + ".npy", npy(np.zeros(2, dtype="<f4")))])


def terminal_escape_names_safetensors():
    """A valid file whose tensor names and metadata carry terminal control sequences: it loads, and every name is
    shown escaped."""
    return safetensors_save({"fc" + TERMINAL_ATTACK + ".weight": np.ones((2, 3), dtype="<f4"),
                             "bias\r\x00": np.zeros(2, dtype="<f4")},
                            metadata={"note" + TERMINAL_ATTACK: TERMINAL_ATTACK})


def global_heap_loop_h5():
    """Keras's legacy leaky.h5 with the free-space object of its global heap collection set to size 0: libhdf5
    1.10.8 steps in place forever when it decodes the collection (found by fuzz-keras). ModelKit refuses it (K23)."""
    data = bytearray((MODELS / "keras" / "leaky.h5").read_bytes())
    collection = data.find(b"GCOL")
    assert collection >= 0 and data[collection + 4] == 1, "leaky.h5 has no version 1 global heap collection"
    (collection_size,) = struct.unpack_from("<Q", data, collection + 8)
    position, end = collection + 16, collection + collection_size
    while position + 16 <= end:
        index, = struct.unpack_from("<H", data, position)
        (size,) = struct.unpack_from("<Q", data, position + 8)
        if index == 0:
            struct.pack_into("<Q", data, position + 8, 0)
            return bytes(data)
        position += 16 + (size + 7) // 8 * 8
    sys.exit("leaky.h5's global heap has no free-space object")


def continuation_length_h5(length):
    """Keras's legacy leaky.h5 whose root object header continuation message claims a chunk of `length` bytes:
    libhdf5 reserves the buffer before checking the length against the file, then refuses the read (found by
    fuzz-keras). ModelKit must give a one-line error without touching that memory."""
    data = bytearray((MODELS / "keras" / "leaky.h5").read_bytes())
    assert data[8] == 0, "leaky.h5 should have a version 0 superblock"
    # Superblock v0 with 8-byte offsets: the root group's symbol table entry starts at byte 56; its object header
    # address is the entry's second field.
    (root,) = struct.unpack_from("<Q", data, 56 + 8)
    assert data[root] == 1, "the root object header should be version 1"
    message = root + 16
    kind, size = struct.unpack_from("<HH", data, message)
    assert (kind, size) == (0x10, 16), "the root object header should start with a continuation message"
    struct.pack_into("<Q", data, message + 8 + 8, length)
    return bytes(data)


def model_config_reference(data):
    """The offset of the stored reference (sequence length u32, heap address u64, object index u32) of the
    `model_config` attribute in a legacy Keras .h5 written by h5py (attribute message version 1: name, datatype and
    dataspace, each padded to 8 bytes, then the data)."""
    name = data.find(b"model_config\0")
    assert name >= 8 and data[name - 8] == 1, "model_config should be a version 1 attribute message"
    name_size, type_size, space_size = struct.unpack_from("<HHH", data, name - 6)
    pad = lambda n: (n + 7) // 8 * 8
    return name + pad(name_size) + pad(type_size) + pad(space_size)


def forged_string_index_h5():
    """Keras's legacy leaky.h5 whose model_config reference names object 24579 of its global heap collection, which
    does not exist: libhdf5 1.10.8 indexes past its object table and copies from a wild pointer (found by
    fuzz-keras). ModelKit reads strings from its own checked heap index and refuses the reference (K23)."""
    data = bytearray((MODELS / "keras" / "leaky.h5").read_bytes())
    reference = model_config_reference(data)
    length, address, index = struct.unpack_from("<IQI", data, reference)
    assert data[address:address + 4] == b"GCOL" and index > 0, "model_config should refer to the global heap"
    struct.pack_into("<I", data, reference + 12, 24579)
    return bytes(data)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    files = {
        "symlink-member.npz": symlink_member_npz(),
        "invalid-utf8-member-name.npz": invalid_utf8_member_npz(),
        "member-count-2-to-40.npz": member_count_2_to_40_npz(),
        "non-finite-weights.safetensors": non_finite_safetensors(),
        "terminal-escape-member-name.npz": terminal_escape_member_npz(),
        "terminal-escape-names.safetensors": terminal_escape_names_safetensors(),
        "keras-global-heap-loop.h5": global_heap_loop_h5(),
        "keras-continuation-2-to-58.h5": continuation_length_h5(1 << 58),
        "keras-forged-string-index.h5": forged_string_index_h5(),
        "keras-continuation-3-gib.h5": continuation_length_h5(3 << 30),
        "git-lfs-pointer.bin": b"version https://git-lfs.github.com/spec/v1\n"
                               b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                               b"size 1612345678\n",
        "html-page.bin": b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in.</body></html>\n",
    }
    for name, payload in files.items():
        (OUT / name).write_bytes(bytes(payload))
        print(f"{name}: {len(payload)} bytes")


if __name__ == "__main__":
    main()
