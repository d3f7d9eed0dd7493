import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// A file whose tensors do not form a network ModelKit can map (weights without `--arch`) still converts to a
/// weight-only format, tensor by tensor, like `safetensors` ↔ `np.savez` in Python.
final class ConvertTensorsOnlyTests: XCTestCase {
    func test_weightOnlyFilesConvertWithoutArchToWeightOnlyFormats() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let sources = ["Fixtures/models/safetensors/example.safetensors", "Fixtures/models/torch/example_state_dict.pt"]
        for source in sources {
            let original = try ModelIO.loadTensors(FixturePaths.root + "/" + source)
            XCTAssertEqual(original.count, 6, source)
            for output in [directory + "/out.npz", directory + "/out.safetensors"] {
                try? FileManager.default.removeItem(atPath: output)
                let result = try BinaryRunner.run(["convert", source, output])
                XCTAssertEqual(result.exitCode, 0, "\(source) → \(output): \(result.standardError)")
                XCTAssertTrue(result.standardError.contains("writing its 6 tensors as they are, without layers"), result.standardError)
                let written = try ModelIO.loadTensors(output)
                XCTAssertEqual(written.map(\.name).sorted(), original.map(\.name).sorted(), output)
                for tensor in original {
                    let copy = try XCTUnwrap(written.first { $0.name == tensor.name })
                    XCTAssertTrue(copy.tensor.hasSameContents(as: tensor.tensor), "\(source) → \(output): \(tensor.name)")
                }
            }
        }
    }

    /// An LLM's GGUF (Q8_0, Q4_K and Q6_K tensors, no dense chain) becomes a safetensors file of dequantized
    /// float32 tensors with llama.cpp's names.
    func test_ggufLLMConvertsToSafetensorsDequantized() throws {
        let output = try FixturePaths.scratchDirectory(for: self) + "/llm.safetensors"
        let result = try BinaryRunner.run(["convert", "Fixtures/models/gguf/llm_like.gguf", output])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        let written = try ModelIO.loadTensors(output)
        let source = try ModelIO.loadTensors(FixturePaths.fixture("models/gguf/llm_like.gguf"))
        XCTAssertEqual(written.map(\.name).sorted(), source.map(\.name).sorted(), "safetensors sorts names")
        XCTAssertEqual(written.first { $0.name == "blk.0.ffn_down.weight" }?.tensor.dtype, .float32)
        for tensor in source {
            let copy = try XCTUnwrap(written.first { $0.name == tensor.name })
            XCTAssertTrue(copy.tensor.hasSameContents(as: tensor.tensor), tensor.name)
        }
    }

    func test_dtypeAppliesToTensorsOnlyConversion() throws {
        let output = try FixturePaths.scratchDirectory(for: self) + "/half.safetensors"
        let result = try BinaryRunner.run(["convert", "Fixtures/models/safetensors/example.safetensors", output, "--dtype", "float16"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        let written = try ModelIO.loadTensors(output)
        XCTAssertEqual(Set(written.map(\.tensor.dtype)), [.float16])
    }

    /// The fallback is not a way around errors: a damaged file, a flag that does not apply, or an output format that
    /// needs layers still fail with the reader's message.
    func test_damagedFilesFlagsAndLayerFormatsStillFail() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let cases: [([String], String)] = [
            (["convert", "Fixtures/malformed/safetensors/offsets-gap.safetensors", directory + "/a.npz"], "leave a gap"),
            (["convert", "Fixtures/models/safetensors/example.safetensors", directory + "/b.npz", "--key", "model"], "--key does not apply"),
            (["convert", "Fixtures/models/safetensors/example.safetensors", directory + "/c.onnx"], "pass --arch"),
            (["convert", "Fixtures/models/safetensors/example.safetensors", directory + "/d.npz", "--arch", "linear(3,2)"], "linear"),
        ]
        for (arguments, expected) in cases {
            let result = try BinaryRunner.run(arguments)
            XCTAssertEqual(result.exitCode, 1, "\(arguments): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains(expected), "\(arguments): \(result.standardError)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: arguments[2]), "\(arguments) wrote a file")
        }
    }
}
