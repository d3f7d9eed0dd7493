"""Checks that modelkit_json's checker refuses what Specs/format.md forbids (so a passing check means something).

    python -m unittest discover -s Fixtures/generate -p 'test_*.py'
"""

import copy
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

import modelkit_json as mkj


def small_document():
    weight = np.array([[0.1, -0.2, 0.3], [1.5, 2.0, -3.25]], dtype=np.float32)  # [out 2, in 3]
    square = np.array([[1.0, 0.5], [-0.5, 0.25]], dtype=np.float16)
    return {
        "format": "modelkit-json", "version": "1.0",
        "model": {"name": "t", "producer": "test", "source_format": "pytorch",
                  "input": {"shape": [None, 3], "dtype": "float32"}, "metadata": {"k": "v"}},
        "layers": [mkj.layer_entry("fc1", "dense", weight="fc1.weight", bias="fc1.bias"),
                   mkj.layer_entry("act", "leaky_relu", {"alpha": 0.1}),
                   mkj.layer_entry("fc2", "dense", weight="fc2.weight"),
                   mkj.layer_entry("out", "softmax", {"axis": -1})],
        "tensors": [mkj.tensor_entry("fc1.weight", weight, "float32", "out_in", "shape"),
                    mkj.tensor_entry("fc1.bias", np.array([0.0, -1e-5], np.float32), "float32"),
                    mkj.tensor_entry("fc2.weight", square, "float16", "in_out", "declared")],
    }


class CheckerTests(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.path = Path(self.directory.name) / "model.json"

    def tearDown(self):
        self.directory.cleanup()

    def write_text(self, text):
        self.path.write_text(text)
        return self.path

    def mutated(self, mutate):
        """The small document as JSON text, parsed, changed by `mutate`, and written back with json.dumps."""
        document = json.loads(mkj.render(small_document()))
        mutate(document)
        return self.write_text(json.dumps(document))

    def test_valid_document_passes_and_evaluates(self):
        mkj.write_json(self.path, small_document())
        summary = mkj.check_model_file(self.path)
        self.assertEqual(summary["output_features"], 2)
        output = mkj.forward_float64(self.path, np.ones((1, 3), np.float32))
        self.assertAlmostEqual(float(output.sum()), 1.0, places=12)

    def test_values_are_shortest_and_exact(self):
        texts = mkj.float_texts(np.array([0.1, 1 / 3, -0.0, 1e-7], np.float32), "float32").texts
        self.assertEqual(texts, ["0.1", "0.33333334", "-0.0", "1e-07"])
        self.assertEqual(mkj.float_texts(np.array([0.1], np.float16), "float16").texts, ["0.1"])
        self.assertIsNotNone(mkj.round_trip_problem("0.1000001", np.float32(0.1), "float32"))
        self.assertIsNotNone(mkj.round_trip_problem("1.", np.float32(1.0), "float32"))

    def test_refusals(self):
        cases = {
            "value count (J3)": lambda d: d["tensors"][0]["values"].pop(),
            "duplicate tensor (H2)": lambda d: d["tensors"].append(copy.deepcopy(d["tensors"][1])),
            "duplicate layer (H2)": lambda d: d["layers"].append(copy.deepcopy(d["layers"][1])),
            "missing tensor (H2)": lambda d: d["layers"][2]["parameters"].update(weight="nope"),
            "non-shortest value (J2)": lambda d: d["tensors"][0]["values"].__setitem__(0, 0.10000000149),
            "string value (J2)": lambda d: d["tensors"][0]["values"].__setitem__(0, "nan"),
            "data_size (J1)": lambda d: d.update(data_size=0),
            "offset in JSON form (J1)": lambda d: d["tensors"][0].update(offset=0),
            "wrong version (V2)": lambda d: d.update(version="2.0"),
            "unknown kind (section 4)": lambda d: d["layers"][1].update(kind="swish"),
            "unknown encoding (H5)": lambda d: d["tensors"][0].update(encoding="zlib"),
            "missing layout (H6)": lambda d: d["tensors"][0].pop("layout"),
            "square with layout_source shape (H6)": lambda d: d["tensors"][2].update(layout_source="shape"),
            "wrong orientation": lambda d: d["tensors"][0].update(layout="in_out"),
            "metadata not string (H9)": lambda d: d["model"]["metadata"].update(k=1),
            "input shape (H7)": lambda d: d["model"]["input"].update(shape=[3]),
        }
        for name, mutate in cases.items():
            with self.subTest(name):
                path = self.mutated(mutate)
                with self.assertRaises(mkj.SpecViolation):
                    mkj.check_model_file(path)

    def test_refuses_duplicate_keys_and_nan_literal(self):
        text = mkj.render(small_document())
        with self.assertRaises(mkj.SpecViolation):
            mkj.check_model_file(self.write_text(text.replace('"version": "1.0"', '"version": "1.0", "version": "1.0"')))
        with self.assertRaises(mkj.SpecViolation):
            mkj.check_model_file(self.write_text(text.replace("-0.2,", "NaN,")))


if __name__ == "__main__":
    unittest.main()
