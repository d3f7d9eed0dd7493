import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// `inspect` describes any file of a supported format, also when it does not become layers.
final class InspectForeignFilesTests: XCTestCase {
    func test_ggufLLMIsListedFromItsHeader() throws {
        let result = try BinaryRunner.run(["inspect", "Fixtures/models/gguf/llm_like.gguf"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        for expected in ["GGUF 3", "general.architecture: \"llama\"", "llama.block_count: 1", "blk.0.attn_q.weight", "Q8_0", "Q6_K", "[64, 256]"] {
            XCTAssertTrue(result.standardOutput.contains(expected), "missing \(expected):\n\(result.standardOutput)")
        }
        let json = try BinaryRunner.run(["inspect", "Fixtures/models/gguf/llm_like.gguf", "--json"])
        XCTAssertEqual(json.exitCode, 0)
        let parsed = try JSONValue.parse(json.standardOutput)
        guard case .object(let top) = parsed, let tensors = top["tensors"], case .array(let list) = tensors else {
            return XCTFail(json.standardOutput)
        }
        XCTAssertEqual(list.count, 6)
        XCTAssertEqual(top["model"], JSONValue.null)
    }

    func test_unmappedONNXGraphShowsNodesAndInitializers() throws {
        let result = try BinaryRunner.run(["inspect", "Fixtures/malformed/onnx/non-chain.onnx"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        for expected in ["ONNX IR 8", "opsets: ai.onnx 13", "[batch, 6]", "residual", "Add", "skip.weight", "does not map to dense layers"] {
            XCTAssertTrue(result.standardOutput.contains(expected), "missing \(expected):\n\(result.standardOutput)")
        }
        XCTAssertEqual(try BinaryRunner.run(["inspect", "--strict", "Fixtures/malformed/onnx/non-chain.onnx"]).exitCode, 2)
    }

    func test_mappedONNXShowsLayers() throws {
        let result = try BinaryRunner.run(["inspect", "Fixtures/models/onnx/example_torchscript.onnx"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertTrue(result.standardOutput.contains("100,502 parameters"), result.standardOutput)
    }

    func test_weightOnlyFilesListTensorsAndSuggestAnArchitecture() throws {
        for file in ["Fixtures/models/safetensors/example.safetensors", "Fixtures/models/torch/example_state_dict.pt"] {
            let result = try BinaryRunner.run(["inspect", file])
            XCTAssertEqual(result.exitCode, 0, result.standardError)
            XCTAssertTrue(result.standardOutput.contains("[200, 400]"), result.standardOutput)
            XCTAssertTrue(result.standardOutput.contains("--arch \"linear(400,200)"), result.standardOutput)
            let withArch = try BinaryRunner.run(["inspect", file, "--arch", "linear(400,200) relu linear(200,100) relu linear(100,2) softmax"])
            XCTAssertEqual(withArch.exitCode, 0, withArch.standardError)
            XCTAssertTrue(withArch.standardOutput.contains("out_in"), withArch.standardOutput)
        }
    }

    func test_damagedFilesStillFail() throws {
        let result = try BinaryRunner.run(["inspect", "Fixtures/malformed/onnx/truncated.onnx"])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertFalse(result.crashed)
    }
}
