import Foundation
import ModelKitCore
import ModelKitEngine
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// ``KerasFormat/write(_:to:)``: our exports read back by our reader and, live, by h5py. Keras itself loads them in
/// `keras_fixtures.py --verify-export` (result committed as Fixtures/expected/keras/export-check.json).
///
/// With `MODELKIT_KERAS_EXPORT_DIR=DIR` the exports are also written to DIR (example.keras/.h5, zoo.keras/.h5) for
/// that check.
final class KerasExportTests: XCTestCase {
    private func exampleModel() throws -> Model {
        try ModelFile.read(path: try FixturePaths.require("models/example/example.json")).model
    }

    private func exportDirectory() throws -> String {
        if let directory = ProcessInfo.processInfo.environment["MODELKIT_KERAS_EXPORT_DIR"], !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return directory
        }
        return try FixturePaths.scratchDirectory(for: self)
    }

    /// The example (PyTorch `[out, in]` weights) exported as `.keras` and `.h5` and read back predicts torch's outputs.
    func test_K18_exampleExportReadsBackWithTheSameOutputs() throws {
        let directory = try exportDirectory()
        let model = try exampleModel()
        let input = try KerasFixture.array("../example/batch50.input.npy")
        let expected = try KerasFixture.array("../example/batch50.output.npy")
        for suffix in ["keras", "h5"] {
            let path = "\(directory)/example.\(suffix)"
            try KerasFormat.write(model, to: path)
            XCTAssertTrue(KerasFormat.recognizes(path: path))
            let back = try KerasFormat.read(path: path)
            XCTAssertEqual(back.layers.map(\.name), model.layers.map(\.name), suffix)
            XCTAssertEqual(back.layers.map(\.kind), model.layers.map(\.kind), suffix)
            let actual = try InferenceSession(model: back).predict(input.values, batchSize: 50)
            assertCloseScaled(actual, expected.values, suffix)
        }
    }

    /// The activation zoo read from Keras, written by us and read again: same layers, same outputs as Keras's.
    func test_K18_zooRoundTripKeepsLayersAndOutputs() throws {
        let directory = try exportDirectory()
        let original = try KerasFormat.read(path: try KerasFixture.model("zoo.keras"))
        let input = try KerasFixture.array("zoo.input.npy")
        let expected = try KerasFixture.array("zoo.output.npy")
        for suffix in ["keras", "h5"] {
            let path = "\(directory)/zoo.\(suffix)"
            try KerasFormat.write(original, to: path)
            let back = try KerasFormat.read(path: path)
            XCTAssertEqual(back.layers.map(\.name), original.layers.map(\.name), suffix)
            XCTAssertEqual(back.layers.map(\.kind), original.layers.map(\.kind), suffix)
            for layer in back.layers where layer.kind == .leakyRelu {
                XCTAssertEqual(layer.alpha, original.layers.first { $0.name == layer.name }?.alpha, layer.name)
            }
            let actual = try InferenceSession(model: back).predict(input.values, batchSize: input.shape[0])
            assertCloseScaled(actual, expected.values, suffix)
        }
    }

    /// `[out, in]` weights are transposed to Keras's `[in, out]`; the weights file is laid out as Keras 3 writes it.
    func test_K19_weightsAreWrittenInOutInKerasLayout() throws {
        let path = try FixturePaths.scratchDirectory(for: self) + "/example.keras"
        let model = try exampleModel()
        try KerasFormat.write(model, to: path)
        let archive = try ZipArchive.open(path)
        XCTAssertEqual(archive.memberNames, ["metadata.json", "config.json", "model.weights.h5"])
        let back = try KerasFormat.read(path: path)
        let original = try XCTUnwrap(model.tensor(named: "fc1.weight"))
        XCTAssertEqual(original.layout, .outIn)
        let written = try XCTUnwrap(back.tensor(named: "fc1/kernel"))
        XCTAssertEqual(written.tensor.shape, [400, 200])
        XCTAssertEqual(written.tensor.floatValues(), try original.tensor.transposed2D().floatValues())
    }

    func test_K18_tanhGELUCannotBeExported() throws {
        var model = try exampleModel()
        model.layers[1] = Layer(name: "gelu", kind: .gelu, attributes: JSONObject([("approximate", .string("tanh"))]))
        let path = try FixturePaths.scratchDirectory(for: self) + "/x.keras"
        XCTAssertThrowsError(try KerasFormat.write(model, to: path)) { error in
            guard case KerasError.cannotExport = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing is written on failure")
    }

    /// h5py (MODELKIT_PYTHON) reads the weights of our `.keras` export: group names, `vars` name attributes, shapes
    /// and the CRC-32 of every kernel and bias.
    func test_K18_liveH5pyReadsExportedWeights() throws {
        let path = try FixturePaths.scratchDirectory(for: self) + "/example.keras"
        let model = try exampleModel()
        try KerasFormat.write(model, to: path)
        let script = """
        import io, json, sys, zipfile, zlib
        import h5py, numpy as np
        archive = zipfile.ZipFile(sys.argv[1])
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        out = {}
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                a = np.ascontiguousarray(obj[()]).astype("<f4")
                out[name] = {"shape": list(a.shape), "crc32": zlib.crc32(a.tobytes()), "dtype": str(obj.dtype)}
            elif "name" in obj.attrs:
                out[name + "@name"] = str(obj.attrs["name"])
        weights.visititems(visit)
        print(json.dumps(out))
        """
        let output = try ONNXTestSupport.runPython(script, arguments: [path], modules: ["h5py", "numpy"])
        let seen = try JSONValue.parse(output.trimmingCharacters(in: .whitespacesAndNewlines))
        for (index, layer) in ["fc1", "fc2", "fc3"].enumerated() {
            let group = index == 0 ? "layers/dense" : "layers/dense_\(index)"
            XCTAssertEqual(seen["\(group)/vars@name"]?.stringValue, layer)
            let kernel = try XCTUnwrap(model.tensor(named: "\(layer).weight")).tensor.transposed2D()
            XCTAssertEqual(seen["\(group)/vars/0"]?["shape"]?.arrayValue?.compactMap(\.intValue), kernel.shape.dimensions)
            XCTAssertEqual(seen["\(group)/vars/0"]?["dtype"]?.stringValue, "float32")
            XCTAssertEqual(seen["\(group)/vars/0"]?["crc32"]?.intValue, Int(CRC32.checksum(kernel.bytes)), "\(layer) kernel")
            let bias = try XCTUnwrap(model.tensor(named: "\(layer).bias")).tensor
            XCTAssertEqual(seen["\(group)/vars/1"]?["crc32"]?.intValue, Int(CRC32.checksum(bias.bytes)), "\(layer) bias")
        }
        XCTAssertEqual(seen["layers/re_lu/vars@name"]?.stringValue, nil, "activations are Activation layers")
        XCTAssertEqual(seen["layers/activation/vars@name"]?.stringValue, "relu1")
    }
}
