#!/usr/bin/env python3
"""Writes Fixtures/models/keras/variants/: Keras's legacy leaky.h5 rewritten by h5py with the HDF5 layouts other
writers choose, so ModelKit's own HDF5 reader (Specs/interop/keras.md, K23) is checked on more than h5py's defaults.

- leaky_libver_latest.h5: libver='latest' (superblock version 3, version 2 'OHDR' object headers, groups as link
  messages, attribute messages version 3);
- leaky_track_order.h5: libver='latest' with track_order=True (object headers store each message's creation order);
- leaky_dtypes.h5: h5py's default layout with the weights stored as big-endian float32 (layer a), float64 (layer b)
  and float16 (layer c): ModelKit must read them as those values converted to float32.

Same groups, datasets and attributes (and attribute types: variable-length model_config, fixed-length name lists)
as leaky.h5, so the model read from each must equal the one read from leaky.h5 (HDF5ReaderTests).

Run with the pinned h5py (Fixtures/generate/requirements.txt):
    /work/venv-gen/py/bin/python Fixtures/generate/hdf5_variants.py
Deterministic: h5py's time tracking is off, and nothing random is written.
"""

import sys
from pathlib import Path

import h5py

PINNED = "3.16.0"
if h5py.__version__ != PINNED:
    sys.exit(f"h5py {h5py.__version__} found; the fixtures are pinned to h5py {PINNED}")

ROOT = Path(__file__).resolve().parents[2] / "Fixtures" / "models" / "keras"
OUT = ROOT / "variants"


def copy_attributes(source, target):
    for name, value in source.attrs.items():
        target.attrs.create(name, value, dtype=source.attrs.get_id(name).dtype)


def copy_tree(source, target, track_order, dtypes):
    copy_attributes(source, target)
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            copy_tree(item, target.create_group(name, track_order=track_order), track_order, dtypes)
        else:
            dtype = dtypes(item.name) or item.dtype
            dataset = target.create_dataset(name, data=item[()].astype(dtype), dtype=dtype, track_times=False,
                                            track_order=track_order)
            copy_attributes(item, dataset)


def rewrite(name, libver, track_order=False, dtypes=lambda path: None):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    with h5py.File(ROOT / "leaky.h5", "r") as source, \
            h5py.File(path, "w", libver=libver, track_order=track_order) as target:
        copy_tree(source, target, track_order, dtypes)
    print(f"{path.relative_to(ROOT.parents[2])}: {path.stat().st_size} bytes")


def stored_dtype(path):
    """Layer a big-endian float32, layer b float64, layer c float16."""
    layer = path.split("/")[2]
    return {"a": ">f4", "b": "<f8", "c": "<f2"}.get(layer)


if __name__ == "__main__":
    rewrite("leaky_libver_latest.h5", "latest")
    rewrite("leaky_track_order.h5", "latest", track_order=True)
    rewrite("leaky_dtypes.h5", "earliest", dtypes=stored_dtype)
