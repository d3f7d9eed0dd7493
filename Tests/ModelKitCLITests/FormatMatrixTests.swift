import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// `convert` and `run` across every format pair that matters: each file made by a real tool, and each file we
/// write, must run to the outputs PyTorch computed for the example network (Fixtures/expected/example).
final class FormatMatrixTests: XCTestCase {
    let example = "Fixtures/models/example/example.mkit"
    let input = "Fixtures/expected/example/batch50.input.npy"
    let architecture = "linear(400,200) relu linear(200,100) relu linear(100,2) softmax"

    private func expected() throws -> [Float] {
        try NumPyFile.readArray(path: FixturePaths.fixture("expected/example/batch50.output.npy")).floatValues()
    }

    private func assertRuns(_ model: String, extra: [String] = [], in directory: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let output = directory + "/out-\(UUID().uuidString).npy"
        let result = try BinaryRunner.run(["run", model, "--input", input, "--output", output] + extra)
        XCTAssertEqual(result.exitCode, 0, "\(model): \(result.standardError)", file: file, line: line)
        guard result.exitCode == 0 else { return }
        assertCloseScaled(try NumPyFile.readArray(path: output).floatValues(), try expected(), file: file, line: line)
    }

    func test_filesMadeByTheRealToolsRunToPyTorchsOutputs() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try assertRuns("Fixtures/models/onnx/example_torchscript.onnx", in: directory)
        try assertRuns("Fixtures/models/onnx/example_dynamo.onnx", in: directory)
        try assertRuns("Fixtures/models/safetensors/example.safetensors", extra: ["--arch", architecture], in: directory)
        try assertRuns("Fixtures/models/torch/example_state_dict.pt", extra: ["--arch", architecture], in: directory)
        try assertRuns("Fixtures/models/gguf/example_f32.gguf", extra: ["--arch", architecture], in: directory)
        try assertRuns("Fixtures/models/keras/example.keras", in: directory)
        try assertRuns("Fixtures/models/keras/example.h5", in: directory)
    }

    func test_everyExportRunsToPyTorchsOutputs() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        for ext in ["mkit", "json", "onnx", "safetensors", "npz", "pt", "gguf", "keras", "h5"] {
            let path = directory + "/example." + ext
            let converted = try BinaryRunner.run(["convert", example, path])
            XCTAssertEqual(converted.exitCode, 0, "\(ext): \(converted.standardError)")
            // Only .npz lacks room for the architecture.
            try assertRuns(path, extra: ext == "npz" ? ["--arch", architecture] : [], in: directory)
            // And back to .mkit, from the exported file.
            let back = directory + "/back-\(ext).mkit"
            let reconverted = try BinaryRunner.run(["convert", path, back] + (ext == "npz" ? ["--arch", architecture] : []))
            XCTAssertEqual(reconverted.exitCode, 0, "\(ext) → mkit: \(reconverted.standardError)")
            try assertRuns(back, in: directory)
        }
    }

    func test_directConversionsBetweenForeignFormats() throws {
        // A ring through every writable format, each step read from the previous foreign file, starting from Keras.
        let directory = try FixturePaths.scratchDirectory(for: self)
        var previous = "Fixtures/models/keras/example.keras"
        for ext in ["pt", "gguf", "onnx", "safetensors", "h5", "npz", "json"] {
            let next = directory + "/ring." + ext
            let arguments = ["convert", previous, next] + (previous.hasSuffix(".npz") ? ["--arch", architecture] : [])
            let result = try BinaryRunner.run(arguments)
            XCTAssertEqual(result.exitCode, 0, "\(previous) → \(ext): \(result.standardError)")
            try assertRuns(next, extra: ext == "npz" ? ["--arch", architecture] : [], in: directory)
            previous = next
        }
    }

    func test_nonFiniteWeightsGiveANoteInEveryFormat() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        var model = try ModelIO.load(FixturePaths.fixture("models/example/example.mkit")).model
        let name = try XCTUnwrap(model.layers.first { $0.kind == .dense }?.parameters["bias"])
        model.updateTensors { entry in
            guard entry.name == name else { return }
            var values = entry.tensor.floatValues()
            values[3] = .nan
            values[4] = .infinity
            entry.tensor = Tensor(float32: values, shape: entry.tensor.shape)
        }
        for ext in ["mkit", "json", "onnx", "safetensors", "npz", "pt", "gguf", "keras"] {
            let path = directory + "/nan." + ext
            try ModelIO.save(model, to: path)
            let result = try BinaryRunner.run(["inspect", path] + (ext == "npz" ? ["--arch", architecture] : []))
            XCTAssertEqual(result.exitCode, 0, "\(ext): \(result.standardError)")
            XCTAssertTrue(result.standardOutput.contains("NaN or infinite"), "\(ext): \(result.standardOutput)")
        }
    }

    func test_weightOnlyFilesWithoutArchitectureSuggestOne() throws {
        for file in ["Fixtures/models/safetensors/example.safetensors", "Fixtures/models/torch/example_state_dict.pt"] {
            let result = try BinaryRunner.run(["run", file, "--input", input])
            XCTAssertEqual(result.exitCode, 1, file)
            XCTAssertTrue(result.standardError.contains("--arch \"linear(400,200)"), result.standardError)
        }
    }

    func test_flagsThatDoNotApplyAreRefused() throws {
        let arch = try BinaryRunner.run(["inspect", example, "--arch", architecture])
        XCTAssertEqual(arch.exitCode, 1)
        XCTAssertTrue(arch.standardError.contains("--arch does not apply"), arch.standardError)
        let key = try BinaryRunner.run(["inspect", example, "--key", "model"])
        XCTAssertTrue(key.standardError.contains("--key does not apply"), key.standardError)
    }

    func test_dtypeChangesStoragePrecision() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        for (dtype, tolerance) in [("float16", Float(2e-3)), ("bfloat16", Float(2e-2))] {
            let path = directory + "/example-\(dtype).mkit"
            XCTAssertEqual(try BinaryRunner.run(["convert", example, path, "--dtype", dtype]).exitCode, 0)
            let loaded = try ModelIO.load(path)
            XCTAssertTrue(loaded.model.tensors.allSatisfy { $0.tensor.dtype.rawValue == dtype }, dtype)
            let output = directory + "/o-\(dtype).npy"
            XCTAssertEqual(try BinaryRunner.run(["run", path, "--input", input, "--output", output]).exitCode, 0)
            assertClose(try NumPyFile.readArray(path: output).floatValues(), try expected(), rtol: tolerance, atol: tolerance)
        }
        // float16 safetensors too: what PyTorch users ship.
        let half = directory + "/half.safetensors"
        XCTAssertEqual(try BinaryRunner.run(["convert", example, half, "--dtype", "float16"]).exitCode, 0)
        let (tensors, _) = try SafetensorsFormat.readTensors(path: half)
        XCTAssertTrue(tensors.allSatisfy { $0.tensor.dtype == .float16 })
    }

    func test_anyONNXModelsWeightsConvertToAWeightOnlyFormat() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        // Graphs ModelKit does not map to layers (an unknown op; branches): their initializers still convert.
        for name in ["unsupported-op", "non-chain"] {
            let source = "Fixtures/malformed/onnx/\(name).onnx"
            let summary = try ONNXFormat.summary(path: FixturePaths.fixture("malformed/onnx/\(name).onnx"))
            XCTAssertThrowsError(try ModelIO.load(FixturePaths.fixture("malformed/onnx/\(name).onnx")))
            for ext in ["safetensors", "npz"] {
                let output = directory + "/\(name).\(ext)"
                let result = try BinaryRunner.run(["convert", source, output])
                XCTAssertEqual(result.exitCode, 0, result.standardError)
                XCTAssertTrue(result.standardError.contains("does not map to dense layers"), result.standardError)
                let names = ext == "npz" ? try NumPyFile.archiveArrayNames(path: output)
                                         : try SafetensorsFormat.readTensors(path: output).tensors.map(\.name)
                XCTAssertEqual(Set(names), Set(summary.initializers.map(\.name)), name)
                XCTAssertFalse(summary.initializers.isEmpty)
            }
            // A format with layers still needs the graph: the mapping error stays.
            let refused = try BinaryRunner.run(["convert", source, directory + "/\(name).mkit"])
            XCTAssertEqual(refused.exitCode, 1)
        }
    }
}

/// `run --output-name` on a graph with several outputs (Fixtures/models/onnx/variants/multi_output.onnx: `label`
/// (int64 ArgMax), `probs`, `logits`, and `aux` through an op from another domain that the other outputs do not need).
final class MultiOutputRunTests: XCTestCase {
    let model = "Fixtures/models/onnx/variants/multi_output.onnx"
    let input = "Fixtures/expected/onnx/variants/multi_output.input.npy"

    private func run(_ extra: [String]) throws -> [Float] {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let output = directory + "/\(UUID().uuidString).npy"
        let result = try BinaryRunner.run(["run", model, "--input", input, "--output", output] + extra)
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        return try NumPyFile.readArray(path: output).floatValues()
    }

    func test_firstFloatingPointOutputByDefaultAndEachByName() throws {
        let probs = try NumPyFile.readArray(path: FixturePaths.fixture("expected/onnx/variants/multi_output.probs.output.npy")).floatValues()
        let logits = try NumPyFile.readArray(path: FixturePaths.fixture("expected/onnx/variants/multi_output.logits.output.npy")).floatValues()
        // `label` comes first but is int64: the first floating-point output is `probs`.
        assertCloseScaled(try run([]), probs)
        assertCloseScaled(try run(["--output-name", "probs"]), probs)
        assertCloseScaled(try run(["--output-name", "logits"]), logits)
        let unknown = try BinaryRunner.run(["run", model, "--input", input, "--output-name", "nope"])
        XCTAssertEqual(unknown.exitCode, 1)
        XCTAssertTrue(unknown.standardError.contains("logits"), unknown.standardError)
    }
}
