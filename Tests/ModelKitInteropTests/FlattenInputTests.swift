import Foundation
import ModelKitCore
import ModelKitEngine
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Networks over `[batch, 3, 4]` inputs that start with a flatten (`nn.Flatten`, Keras `Flatten`), as every MNIST
/// MLP tutorial writes them: the flatten becomes part of the input (Specs/interop/onnx.md OI12, keras.md K22), and
/// the engine reads larger inputs row-major. Expected values are torch's and Keras's own outputs.
final class FlattenInputTests: XCTestCase {
    /// The `[5, 3, 4]` input and the `[5, 3]` outputs torch computed for the ONNX and state-dict fixtures.
    func torchReference() throws -> (input: Tensor, output: [Float]) {
        let input = try NumPyFile.readArray(path: try FixturePaths.require("expected/onnx/variants/flatten.input.npy"))
        let output = try NumPyFile.readArray(path: try FixturePaths.require("expected/onnx/variants/flatten.output.npy"))
        XCTAssertEqual(input.shape, [5, 3, 4])
        return (input, try output.floatValues())
    }

    func test_OI12_bothTorchExportersFlattenFirstAndMatchTorch() throws {
        let (input, expected) = try torchReference()
        for (exporter, op) in [("torchscript", "Flatten"), ("dynamo", "Reshape")] {
            let loaded = try ONNXFormat.read(path: try ONNXTestSupport.model("variants/flatten_\(exporter).onnx"))
            XCTAssertEqual(loaded.model.layers.map(\.kind), [.dense, .relu, .dense, .softmax], exporter)
            XCTAssertEqual(loaded.model.info.inputShape, [nil, 12], exporter)
            XCTAssertTrue(loaded.notes.contains { $0.contains("is flattened to [batch, 12] by") && $0.contains(op) }, "\(loaded.notes)")
            let output = try InferenceSession(model: loaded.model).predict(input)
            XCTAssertEqual(output.shape, [5, 3])
            assertClose(try output.floatValues(), expected, rtol: 1e-5, atol: 1e-6, exporter)
        }
    }

    func test_OI12_aFlattenThatIsNotAtAxisOneIsRefused() throws {
        let source = try ONNXTestSupport.model("variants/flatten_torchscript.onnx")
        var proto = try Onnx_ModelProto(serializedBytes: Data(contentsOf: URL(fileURLWithPath: source)))
        XCTAssertEqual(proto.graph.node[0].opType, "Flatten")
        proto.graph.node[0].attribute[0].i = 2
        let path = try FixturePaths.scratchDirectory(for: self) + "/axis2.onnx"
        try proto.serializedData().write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ONNXFormat.read(path: path)) { error in
            XCTAssertTrue("\(error)".contains("at axis 2; only axis 1 (keeping the batch) maps"), "\(error)")
        }
        // Without the flatten, a 3-D input read straight by a Gemm is refused naming the node.
        var direct = try Onnx_ModelProto(serializedBytes: Data(contentsOf: URL(fileURLWithPath: source)))
        direct.graph.node[1].input[0] = direct.graph.input[0].name
        direct.graph.node.remove(at: 0)
        try direct.serializedData().write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ONNXFormat.read(path: path)) { error in
            XCTAssertTrue("\(error)".contains("[batch, 3, 4]"), "\(error)")
            XCTAssertTrue("\(error)".contains("inputs that a first Flatten"), "\(error)")
        }
    }

    /// `Sequential(Flatten(), Linear, …)`'s state dict names its weights `1.weight` and `3.weight`; with `--arch` it
    /// runs on the 3-D input to torch's outputs.
    func test_stateDictOfAFlattenFirstSequentialRunsOn3DInput() throws {
        let (input, expected) = try torchReference()
        let architecture = try Architecture(parsing: "linear(12,8) relu linear(8,3) softmax")
        let loaded = try PyTorchFormat.read(path: try ONNXTestSupport.model("variants/flatten_state_dict.pt"), architecture: architecture)
        assertClose(try InferenceSession(model: loaded.model).predict(input).floatValues(), expected, rtol: 1e-5, atol: 1e-6)
    }

    func test_K22_kerasFlattenFirstMatchesKeras() throws {
        for suffix in ["keras", "h5"] {
            let model = try KerasReadTests.assertMatchesKeras("flatten", suffix)
            XCTAssertEqual(model.layers.map(\.kind), [.dense, .relu, .dense, .softmax])
            XCTAssertEqual(model.info.inputShape, [nil, 12])
            XCTAssertEqual(model.info.metadata["flattened_input_shape"], "[3, 4]")
            let input = try NumPyFile.readArray(path: try FixturePaths.require("expected/keras/flatten.input.npy"))
            let expected = try KerasFixture.array("flatten.output.npy")
            assertCloseScaled(try InferenceSession(model: model).predict(input).floatValues(), expected.values)
        }
    }

    func test_K22_kerasInputsOfMoreDimensionsNeedAFlattenFirst() throws {
        func config(_ layers: String) throws -> JSONValue {
            try JSONValue.parse("""
            {"class_name": "Sequential", "config": {"name": "m", "layers": [
              {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 3, 4]}}, \(layers)]}}
            """)
        }
        let dense = #"{"class_name": "Dense", "config": {"name": "d", "units": 2}}"#
        XCTAssertThrowsError(try KerasModelConfig(try config(dense), path: "m.keras")) { error in
            XCTAssertTrue("\(error)".contains("rank 3"), "\(error)")
        }
        let channelsFirst = #"{"class_name": "Flatten", "config": {"name": "f", "data_format": "channels_first"}}, "# + dense
        XCTAssertThrowsError(try KerasModelConfig(try config(channelsFirst), path: "m.keras")) { error in
            XCTAssertTrue("\(error)".contains("'channels_first'"), "\(error)")
        }
        let flattened = try KerasModelConfig(try config(#"{"class_name": "Flatten", "config": {"name": "f"}}, "# + dense), path: "m.keras")
        XCTAssertEqual(flattened.inputFeatures, 12)
        XCTAssertEqual(flattened.flattenedInput, [3, 4])
        XCTAssertEqual(flattened.layers.map(\.className), ["Dense"])
    }
}
