import Foundation
import ModelKitCore
import ModelKitEngine
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Keras files written by Keras 3.15.1 (Fixtures/generate/keras_fixtures.py) read by ``KerasFormat`` and run by
/// our engine: the outputs must match what Keras computed (Specs/interop/keras.md).
final class KerasReadTests: XCTestCase {
    /// Reads `models/keras/<name>.<suffix>`, runs it on the recorded input and compares with Keras's output within
    /// 1e-5·max(1, max|ref|).
    @discardableResult
    static func assertMatchesKeras(_ name: String, _ suffix: String, file: StaticString = #filePath, line: UInt = #line) throws -> Model {
        let model = try KerasFormat.read(path: try KerasFixture.model("\(name).\(suffix)"))
        XCTAssertTrue(model.analyze().isValid, "\(name).\(suffix): \(model.analyze().issues)", file: file, line: line)
        let input = try KerasFixture.array("\(name).input.npy")
        let expected = try KerasFixture.array("\(name).output.npy")
        let session = try InferenceSession(model: model)
        let actual = try session.predict(input.values, batchSize: input.shape[0])
        assertCloseScaled(actual, expected.values, "\(name).\(suffix)", file: file, line: line)
        return model
    }

    func test_K4_sequentialExampleMatchesKeras() throws {
        for suffix in ["keras", "h5"] {
            let model = try Self.assertMatchesKeras("example", suffix)
            XCTAssertEqual(model.layers.map(\.name), ["fc1", "fc1_relu", "fc2", "fc2_relu", "fc3", "fc3_softmax"])
            XCTAssertEqual(model.layers.map(\.kind), [.dense, .relu, .dense, .relu, .dense, .softmax])
        }
    }

    /// The example's weights are torch's (transposed by the generator): our Keras reading must also agree with
    /// torch's outputs on the same batch.
    func test_K4_exampleAgreesWithTorchOutputs() throws {
        let model = try KerasFormat.read(path: try KerasFixture.model("example.keras"))
        let input = try KerasFixture.array("../example/batch50.input.npy")
        let expected = try KerasFixture.array("../example/batch50.output.npy")
        let actual = try InferenceSession(model: model).predict(input.values, batchSize: 50)
        assertCloseScaled(actual, expected.values)
    }

    func test_K5_functionalChainMatchesKeras() throws {
        for suffix in ["keras", "h5"] {
            let model = try Self.assertMatchesKeras("functional", suffix)
            XCTAssertEqual(model.layers.map(\.name), ["hidden", "hidden_gelu", "drop", "leaky_relu", "hidden2", "hidden2_tanh",
                                                      "logits", "log_probs"])
            XCTAssertEqual(model.layers.map(\.kind), [.dense, .gelu, .dropout, .leakyRelu, .dense, .tanh, .dense, .logSoftmax])
            XCTAssertNil(model.layers[6].parameters["bias"], "use_bias=False gives no bias")
            XCTAssertEqual(model.layers[3].attributes["alpha"]?.doubleValue, 0.1)
            XCTAssertEqual(model.layers[2].attributes["rate"]?.doubleValue, 0.25)
        }
    }

    func test_K8_everyActivationMatchesKeras() throws {
        for suffix in ["keras", "h5"] {
            let model = try Self.assertMatchesKeras("zoo", suffix)
            let kinds = Set(model.layers.map(\.kind))
            XCTAssertEqual(kinds, Set(LayerKind.allCases).subtracting([.logSoftmax]), "every kind but log_softmax (in functional)")
            XCTAssertEqual(model.layers.first { $0.name == "d_gelu_gelu" }?.attributes["approximate"]?.stringValue, "none")
            XCTAssertEqual(model.layers.first { $0.name == "d_leaky_leaky_relu" }?.alpha, 0.2)
            XCTAssertEqual(model.layers.first { $0.name == "relu_slope" }?.kind, .leakyRelu)
            XCTAssertEqual(model.layers.first { $0.name == "act_linear" }?.kind, .identity)
        }
    }

    func test_K9_leakyReluDefaultSlopeMatchesKeras() throws {
        for suffix in ["keras", "h5"] {
            let model = try Self.assertMatchesKeras("leaky", suffix)
            XCTAssertEqual(model.layers.first { $0.name == "leaky_default" }?.alpha, 0.3)
        }
    }

    func test_K16_kernelsAreInOutByKerasConvention() throws {
        let model = try KerasFormat.read(path: try KerasFixture.model("example.keras"))
        let kernel = try XCTUnwrap(model.tensor(named: "fc1/kernel"))
        XCTAssertEqual(kernel.tensor.shape, [400, 200])
        XCTAssertEqual(kernel.layout, .inOut)
        XCTAssertEqual(kernel.layoutSource, .convention)
        XCTAssertEqual(model.tensor(named: "fc1/bias")?.tensor.shape, [200])
        XCTAssertEqual(model.tensor(named: "fc1/bias")?.layout, nil)
    }

    func test_K17_modelInfo() throws {
        let keras = try KerasFormat.read(path: try KerasFixture.model("example.keras"))
        XCTAssertEqual(keras.info.sourceFormat, "keras")
        XCTAssertEqual(keras.info.inputShape, [nil, 400])
        XCTAssertEqual(keras.info.name, "example")
        XCTAssertEqual(keras.info.producer, "keras 3.15.1")
        XCTAssertEqual(keras.info.metadata["keras_model_name"], "example")
        let legacy = try KerasFormat.read(path: try KerasFixture.model("example.h5"))
        XCTAssertEqual(legacy.info.metadata["keras_backend"], "jax")
        XCTAssertEqual(legacy.info.metadata["keras_file_format"], "h5")
    }

    func test_K1_recognizesKerasFilesOnly() throws {
        XCTAssertTrue(KerasFormat.recognizes(path: try KerasFixture.model("example.keras")))
        XCTAssertTrue(KerasFormat.recognizes(path: try KerasFixture.model("example.h5")))
        XCTAssertFalse(KerasFormat.recognizes(path: try FixturePaths.require("models/torch/example_state_dict.pt")))
        XCTAssertFalse(KerasFormat.recognizes(path: try FixturePaths.require("models/example/example.json")))
        XCTAssertFalse(KerasFormat.recognizes(path: "/nonexistent/model.keras"))
    }
}

/// Fixture locations for the Keras tests.
enum KerasFixture {
    static func model(_ name: String) throws -> String { try FixturePaths.require("models/keras/" + name) }
    static func malformed(_ name: String) throws -> String { try FixturePaths.require("malformed/keras/" + name) }

    /// A float32 `.npy` under `expected/keras/` as values and shape.
    static func array(_ name: String) throws -> (values: [Float], shape: [Int]) {
        let tensor = try NumPyFile.readArray(path: try FixturePaths.require("expected/keras/" + name))
        return (tensor.floatValues(), tensor.shape.dimensions)
    }

    /// The ``KerasError`` reading `path` throws; fails when it reads, or when the message is not one line.
    static func readError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> KerasError? {
        do {
            _ = try KerasFormat.read(path: path)
            XCTFail("\(path) was read", file: file, line: line)
        } catch {
            XCTAssertFalse(error.description.contains("\n"), "not one line: \(error.description)", file: file, line: line)
            return error
        }
        return nil
    }
}
