#!/usr/bin/env python3
"""Writes the Keras interop fixtures with Keras 3 itself (jax backend), and checks ModelKit's Keras exports.

Pinned versions (the script refuses others):  keras==3.15.1  jax==0.10.2  jaxlib==0.10.2  h5py==3.16.0
numpy==2.4.6  safetensors==0.8.0

Run:   /work/venv-gen/py/bin/python Fixtures/generate/keras_fixtures.py              # rewrite the fixtures
       /work/venv-gen/py/bin/python Fixtures/generate/keras_fixtures.py --check      # regenerate in a temp dir, compare
       /work/venv-gen/py/bin/python Fixtures/generate/keras_fixtures.py --verify-export DIR
           # loads ModelKit's exports in DIR (example.keras, example.h5, zoo.keras, zoo.h5, written by the Swift
           # test KerasExportTests with MODELKIT_KERAS_EXPORT_DIR=DIR) with keras.saving.load_model and records the
           # largest difference from the reference outputs in Fixtures/expected/keras/export-check.json

What it writes (see Specs/interop/keras.md):
  Fixtures/models/keras/       valid .keras and .h5 files written by model.save()
  Fixtures/expected/keras/     <model>.input.npy and the <model>.output.npy Keras computed (model.predict, float32)
  Fixtures/malformed/keras/    damaged and hostile files, with malformed.json describing each one

Weights are set explicitly (numpy default_rng with fixed seeds), so nothing depends on Keras's initializers. The
.h5 files are byte-stable as Keras writes them; each .keras archive is normalized right after model.save (zip
times, metadata.json's date_saved, config.json's shared_object_id Python ids renumbered; see normalize_keras), and
every file is then reloaded by keras.saving.load_model and must predict exactly the same. Two runs give identical
bytes (--check).
"""

import argparse
import filecmp
import importlib.metadata
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PINNED = {"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2", "h5py": "3.16.0", "numpy": "2.4.6",
          "safetensors": "0.8.0"}
for package, version in PINNED.items():
    found = importlib.metadata.version(package)
    if found != version:
        sys.exit(f"{package} {found} found; the Keras fixtures are pinned to {package}=={version}")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

import absl.logging  # noqa: E402  (keras warns through absl that .h5 is a legacy format)
absl.logging.set_verbosity(absl.logging.ERROR)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "Fixtures/generate/keras_fixtures.py"


def log(message=""):
    print(message, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# The models

def example_model():
    """The example network (400 → 200 relu → 100 relu → 2 softmax) with the weights of
    Fixtures/models/safetensors/example.safetensors (torch manual_seed(0)), transposed to Keras's [in, out]."""
    state = load_file(str(ROOT / "Fixtures/models/safetensors/example.safetensors"))
    model = keras.Sequential([
        keras.Input((400,)),
        keras.layers.Dense(200, activation="relu", name="fc1"),
        keras.layers.Dense(100, activation="relu", name="fc2"),
        keras.layers.Dense(2, activation="softmax", name="fc3"),
    ], name="example")
    for layer, index in zip(model.layers, [0, 2, 4]):
        layer.set_weights([state[f"{index}.weight"].T.copy(), state[f"{index}.bias"]])
    return model


def set_random_weights(model, seed):
    """Weights N(0, (1.5/√in)²), biases N(0, 0.5²): pre-activations of a few units, both signs, at every layer."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel_shape = layer.kernel.shape
            weights = [rng.normal(0, 1.5 / np.sqrt(kernel_shape[0]), kernel_shape).astype(np.float32)]
            if layer.use_bias:
                weights.append(rng.normal(0, 0.5, (kernel_shape[1],)).astype(np.float32))
            layer.set_weights(weights)
    return model


def zoo_model():
    """Every supported activation, as a Dense activation and as a layer; a Dense without bias; Dropout; Identity."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((12,)),
        layers.Dense(16, activation="relu", name="d_relu"),
        layers.Dense(16, activation="sigmoid", name="d_sigmoid"),
        layers.Dense(16, activation="tanh", name="d_tanh"),
        layers.Dense(16, activation="gelu", name="d_gelu"),
        layers.Dense(16, activation="silu", name="d_silu"),
        layers.Dense(16, activation="swish", name="d_swish"),
        layers.Dense(16, activation="leaky_relu", name="d_leaky"),
        layers.Dense(16, name="d_plain"),
        layers.LeakyReLU(negative_slope=0.25, name="leaky"),
        layers.Dense(16, name="d2"),
        layers.ReLU(name="relu"),
        layers.Dense(16, name="d3"),
        layers.ReLU(negative_slope=0.05, name="relu_slope"),
        layers.Dense(16, name="d4"),
        layers.Activation("gelu", name="act_gelu"),
        layers.Dense(16, use_bias=False, name="d_nobias"),
        layers.Activation("tanh", name="act_tanh"),
        layers.Identity(name="identity"),
        layers.Dropout(0.5, name="dropout"),
        layers.Dense(16, name="d5"),
        layers.Activation("sigmoid", name="act_sigmoid"),
        layers.Dense(16, name="d6"),
        layers.Activation("silu", name="act_silu"),
        layers.Dense(10, name="d_out"),
        layers.Activation("linear", name="act_linear"),
        layers.Softmax(name="softmax"),
    ], name="zoo")
    return set_random_weights(model, 11)


def functional_model():
    """A Functional chain (Keras 3 inbound_nodes) with Dropout, ReLU(negative_slope) and log_softmax."""
    layers = keras.layers
    inputs = keras.Input((16,), name="features")
    x = layers.Dense(32, activation="gelu", name="hidden")(inputs)
    x = layers.Dropout(0.25, name="drop")(x)
    x = layers.ReLU(negative_slope=0.1, name="leaky_relu")(x)
    x = layers.Dense(24, activation="tanh", name="hidden2")(x)
    x = layers.Dense(8, use_bias=False, name="logits")(x)
    outputs = layers.Activation("log_softmax", name="log_probs")(x)
    return set_random_weights(keras.Model(inputs, outputs, name="functional_chain"), 12)


def legacy_leaky_model():
    """LeakyReLU with its default slope (0.3) and a Dense activation leaky_relu (0.2)."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((6,)),
        layers.Dense(5, name="a"),
        layers.LeakyReLU(name="leaky_default"),
        layers.Dense(4, activation="leaky_relu", name="b"),
        layers.Dense(3, activation="softmax", name="c"),
    ], name="leaky")
    return set_random_weights(model, 13)


def flatten_model():
    """A classifier of [3, 4] "images" that starts with Flatten, as the Keras MNIST examples do."""
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((3, 4)),
        layers.Flatten(name="flatten"),
        layers.Dense(8, activation="relu", name="hidden"),
        layers.Dense(3, activation="softmax", name="probs"),
    ], name="flatten")
    return set_random_weights(model, 14)


MODELS = {
    "example": (example_model, 50, 1),
    "zoo": (zoo_model, 7, 2),
    "functional": (functional_model, 7, 3),
    "leaky": (legacy_leaky_model, 5, 4),
    "flatten": (flatten_model, 5, 5),
}


# ----------------------------------------------------------------------------------------------------------------
# Valid files and expected outputs

def write_valid(models_dir, expected_dir):
    for name, (build, batch, seed) in MODELS.items():
        keras.utils.set_random_seed(0)
        model = build()
        sample = tuple(model.inputs[0].shape[1:])
        rng = np.random.default_rng(100 + seed)
        inputs = rng.normal(0, 1.5, (batch, *sample)).astype(np.float32)
        if name == "example":  # the same batch as the torch fixtures, so the outputs are comparable
            inputs = np.load(ROOT / "Fixtures/expected/example/batch50.input.npy")
        outputs = np.asarray(model.predict(inputs, verbose=0), dtype=np.float32)
        save_keras(model, models_dir / f"{name}.keras")
        model.save(models_dir / f"{name}.h5")
        np.save(expected_dir / f"{name}.input.npy", inputs, allow_pickle=False)
        np.save(expected_dir / f"{name}.output.npy", outputs, allow_pickle=False)
        # The .h5 must give the same outputs when Keras loads it back (it is what ModelKit's tests compare with).
        for suffix in ["keras", "h5"]:
            again = keras.saving.load_model(models_dir / f"{name}.{suffix}")
            diff = float(np.max(np.abs(np.asarray(again.predict(inputs, verbose=0)) - outputs)))
            assert diff == 0.0, f"{name}.{suffix} reloads with a difference of {diff}"
        log(f"  {name}: {len(model.layers)} layers, batch {batch}, outputs in [{outputs.min():.4g}, {outputs.max():.4g}]")


# ----------------------------------------------------------------------------------------------------------------
# Malformed and hostile files

def normalize_keras(path):
    """Makes a .keras archive Keras just wrote reproducible, changing nothing Keras reads back: zip times fixed,
    metadata.json's date_saved fixed, and config.json's shared_object_id values (Python id()s, different on every
    run) renumbered 1, 2, … in order of first appearance (Keras only compares them with each other)."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    renumbered = {}

    def renumber(value):
        if isinstance(value, dict):
            return {k: (renumbered.setdefault(v, len(renumbered) + 1) if k == "shared_object_id" else renumber(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [renumber(v) for v in value]
        return value

    fixed = []
    for name, data in members:
        if name == "config.json":
            data = json.dumps(renumber(json.loads(data))).encode()
        elif name == "metadata.json":
            metadata = json.loads(data)
            metadata["date_saved"] = "2020-01-01@00:00:00"
            data = json.dumps(metadata).encode()
        fixed.append((name, data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for name, data in fixed:
            out.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)


def save_keras(model, path):
    model.save(path)
    normalize_keras(path)


def rewrite_zip(source, target, replace=None, extra=()):
    """Copies a zip member by member (fixed timestamps), replacing members by name and appending `extra`."""
    replace = replace or {}
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for info in archive.infolist():
            data = replace.get(info.filename, archive.read(info))
            out.writestr(zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0)), data)
        for name, data in extra:
            out.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)


def edit_weights(source, target, edit):
    """Copies a .keras archive, letting `edit(h5py.File)` change its model.weights.h5."""
    with zipfile.ZipFile(source) as archive:
        buffer = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(buffer, "r+") as weights:
        edit(weights)
    rewrite_zip(source, target, {"model.weights.h5": buffer.getvalue()})


def small_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="d1"),
                              keras.layers.Dense(2, activation="softmax", name="d2")], name="small")
    return set_random_weights(model, 21)


@keras.saving.register_keras_serializable(package="evil")
class CustomDense(keras.layers.Dense):
    """A custom layer: its code lives in this script, never in the file."""


def write_malformed(malformed_dir):
    work = Path(tempfile.mkdtemp())
    try:
        small = small_model()
        save_keras(small, work / "small.keras")
        small.save(work / "small.h5")
        entries = []

        def add(name, description):
            entries.append({"file": name, "description": description})
            log(f"  {name}")

        data = (work / "small.keras").read_bytes()
        (malformed_dir / "truncated.keras").write_bytes(data[: len(data) // 2])
        add("truncated.keras", "the first half of a valid .keras archive (the zip directory is gone)")

        rewrite_zip(work / "small.keras", malformed_dir / "bad_config.keras", {"config.json": b'{"class_name": "Sequential", "config": {'})
        add("bad_config.keras", "config.json is cut off in the middle (invalid JSON)")

        keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0, name="double"),
                          keras.layers.Dense(2, name="d")], name="lambda").save(work / "lambda.keras")
        normalize_keras(work / "lambda.keras")
        rewrite_zip(work / "lambda.keras", malformed_dir / "lambda.keras")
        add("lambda.keras", "a Lambda layer (marshalled Python bytecode) saved by Keras")

        keras.Sequential([keras.Input((4,)), CustomDense(2, name="custom")], name="custom").save(work / "custom.keras")
        normalize_keras(work / "custom.keras")
        rewrite_zip(work / "custom.keras", malformed_dir / "custom_object.keras")
        add("custom_object.keras", "a registered custom layer (registered_name 'evil>CustomDense', module null); its code is only in the script")

        keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="elu", name="d")], name="elu").save(work / "elu.keras")
        normalize_keras(work / "elu.keras")
        rewrite_zip(work / "elu.keras", malformed_dir / "unknown_activation.keras")
        add("unknown_activation.keras", "a Dense layer with activation 'elu', which ModelKit has no kind for")

        config = json.loads(zipfile.ZipFile(work / "small.keras").read("config.json"))
        config["config"]["layers"][1]["config"]["units"] = 5
        rewrite_zip(work / "small.keras", malformed_dir / "shape_lying.keras", {"config.json": json.dumps(config).encode()})
        add("shape_lying.keras", "config.json says layer 'd1' has 5 units; its kernel is [4, 3]")

        def huge(weights):
            del weights["layers/dense/vars/0"]
            weights["layers/dense/vars"].create_dataset("0", shape=(1 << 20, 1 << 20), dtype="<f4")
        edit_weights(work / "small.keras", malformed_dir / "huge_dataset.keras", huge)
        add("huge_dataset.keras", "layer 'd1''s kernel declares [1048576, 1048576] float32 (4 TiB) with no data stored")

        shutil.copy(work / "small.h5", malformed_dir / "huge_dataset.h5")
        with h5py.File(malformed_dir / "huge_dataset.h5", "r+") as f:
            group = f["model_weights/d1/small/d1"]
            del group["kernel"]
            group.create_dataset("kernel", shape=(1 << 20, 1 << 20), dtype="<f4")
        add("huge_dataset.h5", "legacy .h5 whose kernel of 'd1' declares [1048576, 1048576] float32 with no data stored")

        shutil.copy(work / "small.h5", malformed_dir / "cycle.h5")
        with h5py.File(malformed_dir / "cycle.h5", "r+") as f:
            f["model_weights/d1/small/loop"] = f["model_weights/d1"]  # a hard link to an ancestor group
        add("cycle.h5", "legacy .h5 with a hard link model_weights/d1/small/loop → model_weights/d1 (a cycle)")

        def cycle(weights):
            weights["layers/dense/vars/back"] = weights["layers"]
        edit_weights(work / "small.keras", malformed_dir / "cycle.keras", cycle)
        add("cycle.keras", "model.weights.h5 with a hard link layers/dense/vars/back → layers (a cycle)")

        shutil.copy(work / "small.h5", malformed_dir / "external_link.h5")
        with h5py.File(malformed_dir / "external_link.h5", "r+") as f:
            group = f["model_weights/d1/small/d1"]
            del group["kernel"]
            group["kernel"] = h5py.ExternalLink("/etc/passwd", "/kernel")
        add("external_link.h5", "legacy .h5 whose kernel of 'd1' is an external link to /etc/passwd")

        def integer(weights):
            del weights["layers/dense/vars/0"]
            weights["layers/dense/vars"].create_dataset("0", data=np.arange(12, dtype=np.int32).reshape(4, 3))
        edit_weights(work / "small.keras", malformed_dir / "int_kernel.keras", integer)
        add("int_kernel.keras", "layer 'd1''s kernel is an int32 dataset")

        rewrite_zip(work / "small.keras", malformed_dir / "zip_dotdot.keras", extra=[("../evil.txt", b"escaped")])
        add("zip_dotdot.keras", "a valid .keras with an extra member named '../evil.txt'")

        with zipfile.ZipFile(work / "small.keras") as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
        with zipfile.ZipFile(malformed_dir / "no_weights.keras", "w") as out:
            for name in ["metadata.json", "config.json"]:
                out.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), members[name])
        add("no_weights.keras", "a .keras archive without model.weights.h5")

        small.save_weights(malformed_dir / "weights_only.weights.h5")
        add("weights_only.weights.h5", "model.save_weights() output: HDF5 without a model config")

        document = {"made_by": f"{SCRIPT} (keras {keras.__version__}, h5py {h5py.__version__})", "files": entries}
        (malformed_dir / "malformed.json").write_text(json.dumps(document, indent=1) + "\n")
    finally:
        shutil.rmtree(work)


# ----------------------------------------------------------------------------------------------------------------
# Driver

def generate(root):
    models_dir, expected_dir, malformed_dir = (root / "Fixtures" / part / "keras" for part in ["models", "expected", "malformed"])
    for directory in [models_dir, expected_dir, malformed_dir]:
        directory.mkdir(parents=True, exist_ok=True)
    log("valid models")
    write_valid(models_dir, expected_dir)
    log("malformed files")
    write_malformed(malformed_dir)


def check():
    with tempfile.TemporaryDirectory() as directory:
        generate(Path(directory))
        different = []
        for folder in ["Fixtures/models/keras", "Fixtures/expected/keras", "Fixtures/malformed/keras"]:
            for path in sorted((Path(directory) / folder).iterdir()):
                committed = ROOT / folder / path.name
                if not committed.exists():
                    different.append(f"{folder}/{path.name} (not committed)")
                elif not filecmp.cmp(path, committed, shallow=False):
                    different.append(f"{folder}/{path.name}")
        if different:
            log("differs from the committed files: " + ", ".join(different))
            return 1
        log("all files identical")
        return 0


def verify_export(directory):
    """Loads ModelKit's exports with keras.saving.load_model and compares their predictions with the references:
    the example with torch's outputs (the network's origin) and Keras's own; the zoo with Keras's outputs."""
    directory = Path(directory)
    references = {
        "example": [("keras", "Fixtures/expected/keras/example"), ("torch", "Fixtures/expected/example/batch50")],
        "zoo": [("keras", "Fixtures/expected/keras/zoo")],
    }
    results = []
    for name, refs in references.items():
        for suffix in ["keras", "h5"]:
            path = directory / f"{name}.{suffix}"
            if not path.exists():
                sys.exit(f"{path} is missing: run the Swift test KerasExportTests with MODELKIT_KERAS_EXPORT_DIR={directory}")
            model = keras.saving.load_model(path)
            for producer, stem in refs:
                inputs = np.load(ROOT / f"{stem}.input.npy")
                expected = np.load(ROOT / f"{stem}.output.npy")
                actual = np.asarray(model.predict(inputs, verbose=0), dtype=np.float32)
                diff = float(np.max(np.abs(actual - expected)))
                scale = max(1.0, float(np.max(np.abs(expected))))
                results.append({"file": f"{name}.{suffix}", "reference": f"{stem}.output.npy ({producer})",
                                "layers": [f"{type(layer).__name__}({layer.name})" for layer in model.layers],
                                "max_abs_diff": diff, "tolerance": 1e-5 * scale, "ok": diff <= 1e-5 * scale})
                log(f"  {name}.{suffix} vs {producer}: max |diff| {diff:.3g}")
    document = {"checked_by": f"{SCRIPT} --verify-export (keras {keras.__version__}, backend {keras.backend.backend()})",
                "exported_by": "ModelKit KerasFormat.write (Tests/ModelKitInteropTests/KerasExportTests.swift)",
                "results": results}
    target = ROOT / "Fixtures/expected/keras/export-check.json"
    target.write_text(json.dumps(document, indent=1) + "\n")
    log(f"wrote {target.relative_to(ROOT)}")
    return 0 if all(r["ok"] for r in results) else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare")
    parser.add_argument("--verify-export", metavar="DIR", help="load ModelKit's exports in DIR with Keras and compare")
    args = parser.parse_args()
    if args.verify_export:
        return verify_export(args.verify_export)
    if args.check:
        return check()
    generate(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
