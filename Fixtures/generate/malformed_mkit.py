#!/usr/bin/env python3
"""Writes Fixtures/malformed/mkit/: damaged versions of the frozen v1.0 .mkit file, one broken rule each.

Independent of ModelKit's own writer: it parses the file per Specs/format.md with the standard library only and
recomputes CRC-32 (zlib) where a case must get past the checksum to reach the rule it targets.
Deterministic: running it twice gives the same bytes. Usage: python3 Fixtures/generate/malformed_mkit.py
"""
import json
import os
import random
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "Fixtures/models/mkit/frozen-v1.0.mkit")
OUT = os.path.join(ROOT, "Fixtures/malformed/mkit")


def split(data):
    major, minor, flags, hlen, hcrc, _ = struct.unpack_from("<HHIQII", data, 8)
    header = json.loads(data[32:32 + hlen])
    start = (32 + hlen + 63) // 64 * 64
    return (major, minor, flags), header, data[start:]


def build(header, payload, major=1, minor=0, flags=0, header_bytes=None, declared_length=None, crc=None):
    hb = header_bytes if header_bytes is not None else json.dumps(header, separators=(",", ":")).encode()
    length = len(hb) if declared_length is None else declared_length
    fixed = struct.pack("<HHIQ", major, minor, flags, length)
    checksum = zlib.crc32(fixed + hb) if crc is None else crc
    out = b"\x89MKT\r\n\x1a\n" + fixed + struct.pack("<II", checksum, 0) + hb
    out += b"\0" * ((-len(out)) % 64)
    return out + payload


def main():
    data = open(SOURCE, "rb").read()
    (major, minor, flags), header, payload = split(data)
    hlen = struct.unpack_from("<Q", data, 16)[0]
    data_start = (32 + hlen + 63) // 64 * 64
    cases = {}

    # Truncations at every section boundary and a few random points.
    boundaries = {"empty": 0, "in-magic": 5, "after-magic": 8, "in-preamble": 20, "after-preamble": 32,
                  "in-header": 32 + hlen // 2, "after-header": 32 + hlen, "at-data": data_start}
    for t in header["tensors"]:
        boundaries["in-tensor-" + t["name"]] = data_start + t["offset"] + max(1, t["length"] // 2)
    boundaries["last-byte-missing"] = len(data) - 1
    rng = random.Random(20261123)
    for i in range(4):
        boundaries["random-%d" % i] = rng.randrange(1, len(data))
    for name, cut in boundaries.items():
        cases["truncated-" + name] = data[:cut]

    cases["wrong-magic"] = b"\x89MKX" + data[4:]
    cases["text-mode-crlf-to-lf"] = data[:4] + data[5:]
    cases["text-mode-high-bit-stripped"] = b"\x09" + data[1:]
    cases["newer-major-2.0"] = build(header, payload, major=2, minor=0)
    cases["unknown-flags"] = build(header, payload, flags=1)
    cases["header-length-past-eof"] = build(header, payload, declared_length=1 << 20)
    cases["header-length-2-to-60"] = build(header, payload, declared_length=1 << 60)
    cases["header-checksum-mismatch"] = build(header, payload, crc=0xDEADBEEF)

    def variant(name, mutate):
        h = json.loads(json.dumps(header))
        mutate(h)
        cases[name] = build(h, payload)

    variant("offsets-overlap", lambda h: h["tensors"][1].update(offset=h["tensors"][0]["offset"]))
    variant("offset-outside-data", lambda h: h["tensors"][0].update(offset=(h["data_size"] + 127) // 64 * 64))
    variant("offset-unaligned", lambda h: h["tensors"][1].update(offset=h["tensors"][1]["offset"] + 4))
    variant("dtype-times-shape-not-length", lambda h: h["tensors"][0].update(shape=[3, 5]))
    variant("shape-element-count-overflows", lambda h: h["tensors"][0].update(shape=[1 << 40, 1 << 40]))
    variant("data-size-claims-2-to-60", lambda h: h.update(data_size=1 << 60))
    variant("unknown-encoding", lambda h: h["tensors"][0].update(encoding="lzma-custom"))
    variant("unknown-dtype", lambda h: h["tensors"][0].update(dtype="complex64"))
    variant("missing-tensors-key", lambda h: h.pop("tensors"))
    variant("layer-references-missing-tensor", lambda h: h["layers"][0]["parameters"].update(weight="ghost"))
    variant("crc-not-hex", lambda h: h["tensors"][0].update(crc32="zzzzzzzz"))

    damaged = bytearray(data)
    first = header["tensors"][0]
    damaged[data_start + first["offset"]] ^= 0x01
    cases["tensor-checksum-mismatch"] = bytes(damaged)

    deep = b"[" * 10000 + b"]" * 10000
    hb = json.dumps(header, separators=(",", ":")).encode()
    cases["header-nested-10000-deep"] = build(None, payload, header_bytes=hb[:-1] + b',"deep":' + deep + b"}")
    cases["header-invalid-json"] = build(None, payload, header_bytes=hb[:-1] + b",,}")
    cases["header-invalid-utf8"] = build(None, payload, header_bytes=hb.replace(b'"frozen-v1.0"', b'"frozen-\xff\xfe"', 1))
    cases["trailing-garbage"] = data + b"\0\0\0\x01"
    cases["git-lfs-pointer"] = (b"version https://git-lfs.github.com/spec/v1\n"
                                b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 2242\n")
    cases["html-page"] = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n"

    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".mkit"):
            os.remove(os.path.join(OUT, old))
    for name, blob in sorted(cases.items()):
        with open(os.path.join(OUT, name + ".mkit"), "wb") as f:
            f.write(blob)
    print("wrote %d malformed files to %s" % (len(cases), os.path.relpath(OUT, ROOT)))


if __name__ == "__main__":
    main()
