import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// `inspect` facts of any ONNX model, and reading every initializer for weight-only conversion.
final class ONNXSummaryTests: XCTestCase {
    func test_OS1_summaryOfTheDynamoExport() throws {
        let summary = try ONNXFormat.summary(path: try ONNXTestSupport.model("example_dynamo.onnx"))
        XCTAssertEqual(summary.irVersion, 10)
        XCTAssertEqual(summary.opsetImports.map(\.description), ["ai.onnx 20"])
        XCTAssertEqual(summary.producerName, "pytorch")
        XCTAssertEqual(summary.producerVersion, "2.15.0+cu132")
        XCTAssertEqual(summary.inputs.map(\.name), ["input"])
        XCTAssertEqual(summary.inputs.first?.elementType, "float32")
        XCTAssertEqual(summary.inputs.first?.shapeText, "[batch, 400]")
        XCTAssertEqual(summary.outputs.first?.shapeText, "[batch, 2]")
        XCTAssertEqual(summary.nodes.map(\.opType), ["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"])
        XCTAssertEqual(summary.nodes.first?.name, "node_linear")
        XCTAssertEqual(summary.nodes.first?.inputs, ["input", "0.weight", "0.bias"])
        let attributes = Dictionary(uniqueKeysWithValues: (summary.nodes.first?.attributes ?? []).map { ($0.name, $0.value) })
        XCTAssertEqual(attributes, ["alpha": "1.0", "beta": "1.0", "transA": "0", "transB": "1"])
        XCTAssertEqual(summary.opCounts.first?.opType, "Gemm")
        XCTAssertEqual(summary.opCounts.first?.count, 3)
        XCTAssertEqual(summary.initializers.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        XCTAssertEqual(summary.initializers.first?.dimensions, [200, 400])
        XCTAssertEqual(summary.initializers.first?.dtype, .float32)
        XCTAssertEqual(summary.initializerBytes, 100_502 * 4)
        XCTAssertNil(summary.initializers.first?.externalLocation)
        XCTAssertEqual(summary.fileSize, try FixturePaths.bytes(try ONNXTestSupport.model("example_dynamo.onnx")).count)
    }

    func test_OS1_summaryOfModelsThatDoNotMapToLayers() throws {
        let multi = try ONNXFormat.summary(path: try ONNXTestSupport.model("variants/multi_output.onnx"))
        XCTAssertEqual(multi.outputs.map(\.name), ["label", "probs", "logits", "aux"])
        XCTAssertEqual(multi.outputs.first?.elementType, "int64")
        XCTAssertEqual(multi.outputs.first?.shapeText, "[batch]")
        XCTAssertEqual(multi.opsetImports.map(\.description), ["ai.onnx 13", "org.example 1"])
        XCTAssertEqual(multi.nodes.last?.domain, "org.example")
        XCTAssertTrue(multi.opCounts.contains { $0.opType == "org.example::Scale" })
        let external = try ONNXFormat.summary(path: try ONNXTestSupport.model("variants/external/model.onnx"))
        XCTAssertEqual(external.initializers.map(\.externalLocation), Array(repeating: "weights.bin", count: 4))
        let dtypes = try ONNXFormat.summary(path: try ONNXTestSupport.model("variants/dtypes.onnx"))
        XCTAssertEqual(dtypes.initializers.map(\.dataType), ["float16", "bfloat16", "float64", "float32", "float64"])
        XCTAssertEqual(dtypes.nodes.first?.attributes.first?.value, "1", "Cast to=1 (FLOAT)")
    }

    func test_OS2_readWeightsReturnsEveryInitializerDecoded() throws {
        let weights = try ONNXFormat.readWeights(path: try ONNXTestSupport.model("example_torchscript.onnx"))
        XCTAssertEqual(weights.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        XCTAssertTrue(weights.allSatisfy { $0.layout == nil })
        let reference = try ModelFile.read(path: try FixturePaths.require("models/example/example.json")).model
        XCTAssertTrue(weights[0].tensor.hasSameContents(as: try XCTUnwrap(reference.tensor(named: "fc1.weight")).tensor))

        // The decomposed GELU's scalar constants and the Reshape's int64 shape are initializers too.
        let decomposed = try ONNXFormat.readWeights(path: try ONNXTestSupport.model("variants/decomposed.onnx"))
        XCTAssertEqual(decomposed.first { $0.name == "shape" }?.tensor.dtype, .int64)
        XCTAssertEqual(decomposed.first { $0.name == "shape" }?.tensor.integerElement(at: 1), -1)
        XCTAssertEqual(decomposed.first { $0.name == "two" }?.tensor.shape, [])

        let dtypes = try ONNXFormat.readWeights(path: try ONNXTestSupport.model("variants/dtypes.onnx"))
        XCTAssertEqual(dtypes.map(\.tensor.dtype), [.float16, .bfloat16, .float64, .float32, .float64])
        let external = try ONNXFormat.readWeights(path: try ONNXTestSupport.model("variants/external/model.onnx"))
        XCTAssertEqual(external.map(\.tensor.shape), [[5, 6], [5], [3, 5], [3]])
    }

    /// Values kept in the typed fields (bfloat16 bit patterns in int32_data, float64 in double_data) decode to
    /// exactly what numpy reads from the same TensorProtos (saved by Fixtures/generate/onnx_fixtures.py).
    func test_OT2_typedFieldValuesMatchNumpy() throws {
        let weights = try ONNXFormat.readWeights(path: try ONNXTestSupport.model("variants/dtypes.onnx"))
        let bf16 = try XCTUnwrap(weights.first { $0.name == "w2_bf16" }).tensor
        let expectedBF16 = try ONNXTestSupport.array("expected/onnx/variants/dtypes.w2_bf16.npy")
        XCTAssertEqual(bf16.shape.dimensions, expectedBF16.shape)
        XCTAssertEqual(bf16.floatValues(), expectedBF16.values)
        let f64 = try XCTUnwrap(weights.first { $0.name == "w3_f64" }).tensor
        let expectedF64 = try NumPyFile.readArray(path: try FixturePaths.require("expected/onnx/variants/dtypes.w3_f64.npy"))
        XCTAssertTrue(f64.hasSameContents(as: expectedF64))
    }

    func test_OS3_sniffingRecognisesONNXAndNotOtherFiles() throws {
        for name in ["example_torchscript.onnx", "example_dynamo.onnx", "variants/opset11.onnx"] {
            let bytes = try FixturePaths.bytes(try ONNXTestSupport.model(name))
            XCTAssertTrue(bytes.withUnsafeBytes { ONNXFormat.looksLikeONNX($0) }, name)
        }
        for relative in ["models/mkit/frozen-v1.0.mkit", "models/numpy/float32_v1.npy", "models/example/example.json"] {
            let bytes = try FixturePaths.bytes(try FixturePaths.require(relative))
            XCTAssertFalse(bytes.withUnsafeBytes { ONNXFormat.looksLikeONNX($0) }, relative)
        }
    }
}
