import Foundation
import ModelKitCore
import ModelKitEngine
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Importing the ONNX files torch's two exporters wrote, and the hand-built variants of
/// Fixtures/generate/onnx_fixtures.py, each compared with onnxruntime's output on the same input.
final class ONNXImportTests: XCTestCase {
    private let zooKinds: [LayerKind] = [.dense, .leakyRelu, .dense, .gelu, .dense, .gelu, .dense, .silu, .dense, .sigmoid,
                                         .dense, .tanh, .dense, .dense, .logSoftmax]

    // MARK: torch exports (opset 20)

    func test_OI5_exampleFromBothExportersMatchesOnnxruntime() throws {
        for exporter in ["torchscript", "dynamo"] {
            let loaded = try ONNXTestSupport.assertReproduces(
                try ONNXTestSupport.model("example_\(exporter).onnx"), input: "expected/example/batch50.input.npy",
                expected: "expected/onnx/example_\(exporter).batch50.output.npy")
            let model = loaded.model
            XCTAssertEqual(ONNXTestSupport.kinds(model), [.dense, .relu, .dense, .relu, .dense, .softmax], exporter)
            XCTAssertEqual(model.info.inputShape, [nil, 400])
            XCTAssertEqual(model.info.sourceFormat, "onnx")
            XCTAssertEqual(model.info.name, "example_\(exporter)", "torch's graph name is replaced by the file's")
            XCTAssertTrue(model.info.producer.hasPrefix("pytorch 2.15.0"), model.info.producer)
            XCTAssertEqual(loaded.formatName, "ONNX")
            XCTAssertEqual(loaded.formatVersion, exporter == "dynamo" ? "IR 10, opset 20" : "IR 9, opset 20")
            XCTAssertEqual(model.tensors.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
            for weight in ["0.weight", "2.weight", "4.weight"] {
                XCTAssertEqual(model.tensor(named: weight)?.layout, .outIn, "\(exporter) \(weight): Gemm transB=1")
                XCTAssertEqual(model.tensor(named: weight)?.layoutSource, .declared)
            }
            XCTAssertEqual(model.layers.last?.attributes["axis"]?.intValue, -1)
        }
    }

    func test_OI6_exampleKeepsTorchsWeightsAndTheEngineMatchesTorch() throws {
        let loaded = try ONNXFormat.read(path: try ONNXTestSupport.model("example_torchscript.onnx"))
        // The same weights as the torch state_dict written to example.json, bit for bit.
        let reference = try ModelFile.read(path: try FixturePaths.require("models/example/example.json")).model
        for (ours, theirs) in [("0", "fc1"), ("2", "fc2"), ("4", "fc3")] {
            for role in ["weight", "bias"] {
                let imported = try XCTUnwrap(loaded.model.tensor(named: "\(ours).\(role)")).tensor
                let expected = try XCTUnwrap(reference.tensor(named: "\(theirs).\(role)")).tensor
                XCTAssertTrue(imported.hasSameContents(as: expected), "\(ours).\(role) vs \(theirs).\(role)")
            }
        }
        // And the engine reproduces torch's own output.
        let input = try ONNXTestSupport.array("expected/example/batch50.input.npy")
        let torch = try ONNXTestSupport.array("expected/example/batch50.output.npy")
        let session = try InferenceSession(model: loaded.model)
        assertClose(try session.predict(input.values, batchSize: 50), torch.values, rtol: 1e-5, atol: 1e-6)
    }

    func test_OI5_zooFromBothExportersMatchesOnnxruntime() throws {
        for exporter in ["torchscript", "dynamo"] {
            let loaded = try ONNXTestSupport.assertReproduces(
                try ONNXTestSupport.model("zoo_\(exporter).onnx"), input: "expected/zoo/batch7.input.npy",
                expected: "expected/onnx/zoo_\(exporter).batch7.output.npy", rtol: 1e-5, atol: 1e-5)
            let model = loaded.model
            XCTAssertEqual(ONNXTestSupport.kinds(model), zooKinds, exporter)
            XCTAssertEqual(model.layers[1].attributes["alpha"], .double(0.1), "float32 0.1 read as 0.1")
            XCTAssertEqual(model.layers[3].attributes["approximate"]?.stringValue, "none")
            XCTAssertEqual(model.layers[5].attributes["approximate"]?.stringValue, "tanh")
            XCTAssertTrue(loaded.notes.contains { $0.contains("silu") }, "\(loaded.notes)")
            // The engine agrees with onnxruntime as well.
            let input = try ONNXTestSupport.array("expected/zoo/batch7.input.npy")
            let expected = try ONNXTestSupport.array("expected/onnx/zoo_\(exporter).batch7.output.npy")
            let session = try InferenceSession(model: model)
            assertClose(try session.predict(input.values, batchSize: 7), expected.values, rtol: 1e-5, atol: 1e-5)
        }
    }

    func test_OI9_torchOpset17ExportsWithDecomposedGeluMatchOnnxruntime() throws {
        for exporter in ["torchscript", "dynamo"] {
            let loaded = try ONNXTestSupport.assertReproduces(
                try ONNXTestSupport.model("variants/zoo_\(exporter)_opset17.onnx"),
                input: "expected/zoo/batch7.input.npy",
                expected: "expected/onnx/variants/zoo_\(exporter)_opset17.output.npy", rtol: 1e-5, atol: 1e-5)
            XCTAssertEqual(ONNXTestSupport.kinds(loaded.model), zooKinds, exporter)
            XCTAssertEqual(loaded.model.layers[3].attributes["approximate"]?.stringValue, "none", exporter)
            XCTAssertEqual(loaded.model.layers[5].attributes["approximate"]?.stringValue, "tanh", exporter)
            // Only the dense weights become model tensors; the formula's scalar constants do not.
            XCTAssertEqual(loaded.model.tensors.count, 16, exporter)
        }
    }

    // MARK: variants

    private func variant(_ name: String, outputName: String? = nil, suffix: String = "",
                         file: StaticString = #filePath, line: UInt = #line) throws -> LoadedModel {
        try ONNXTestSupport.assertReproduces(
            try ONNXTestSupport.model("variants/\(name).onnx"), input: "expected/onnx/variants/\(name).input.npy",
            expected: "expected/onnx/variants/\(name)\(suffix).output.npy", outputName: outputName, file: file, line: line)
    }

    func test_OI8_gemmAttributesAlphaBetaTransBAndBroadcastBias() throws {
        let loaded = try variant("gemm_attributes")
        let model = loaded.model
        XCTAssertEqual(ONNXTestSupport.kinds(model), [.dense, .leakyRelu, .dense, .tanh, .dense, .softmax])
        XCTAssertEqual(model.layers.map(\.name), ["fc1", "act1", "fc2", "act2", "fc3", "probs"])
        // transB=0: [in, out]; alpha 0.5 and beta 2 folded into copies named after the layer.
        let fc1 = try XCTUnwrap(model.parameter("weight", of: model.layers[0]))
        XCTAssertEqual(fc1.name, "fc1.weight")
        XCTAssertEqual(fc1.layout, .inOut)
        XCTAssertEqual(fc1.tensor.shape, [6, 5])
        XCTAssertEqual(model.parameter("bias", of: model.layers[0])?.tensor.shape, [5], "[1, 5] C becomes [5]")
        // transB=1 and a scalar C broadcast to [4].
        let fc2 = try XCTUnwrap(model.parameter("weight", of: model.layers[2]))
        XCTAssertEqual(fc2.name, "w2")
        XCTAssertEqual(fc2.layout, .outIn)
        let bias2 = try XCTUnwrap(model.parameter("bias", of: model.layers[2])).tensor
        XCTAssertEqual(bias2.floatValues(), [Float](repeating: 0.3, count: 4))
        XCTAssertNil(model.layers[4].parameters["bias"], "Gemm without C")
        XCTAssertEqual(model.layers[1].attributes["alpha"], .double(0.2))
        XCTAssertTrue(loaded.notes.contains { $0.contains("alpha=0.5") }, "\(loaded.notes)")
    }

    func test_OI7_matMulAddInBothOrdersAndTransposedWeight() throws {
        let model = try variant("matmul_add").model
        XCTAssertEqual(ONNXTestSupport.kinds(model), [.dense, .relu, .dense, .sigmoid, .dense, .logSoftmax])
        XCTAssertEqual(model.layers[0].parameters, ["weight": "w1", "bias": "b1"], "Add(bias, MatMul) folds")
        XCTAssertEqual(model.tensor(named: "w1")?.layout, .inOut)
        // MatMul(x, Transpose(W)) keeps the stored [out, in] weight, tagged out_in, without a copy.
        XCTAssertEqual(model.layers[2].parameters["weight"], "w2_out_in")
        XCTAssertEqual(model.tensor(named: "w2_out_in")?.layout, .outIn)
        XCTAssertEqual(model.tensor(named: "w2_out_in")?.tensor.shape, [4, 5])
        XCTAssertEqual(model.parameter("bias", of: model.layers[2])?.tensor.shape, [4], "[1, 4] bias")
        XCTAssertNil(model.layers[4].parameters["bias"])
    }

    func test_OI5_opset11SemanticsFlattenDropoutAndDefaultSoftmaxAxis() throws {
        let loaded = try variant("opset11")
        XCTAssertEqual(ONNXTestSupport.kinds(loaded.model), [.dense, .dropout, .relu, .dense, .softmax])
        XCTAssertEqual(loaded.model.layers[1].attributes["rate"], .double(0.25))
        XCTAssertEqual(loaded.model.layers[4].attributes["axis"]?.intValue, -1)
        XCTAssertTrue(loaded.notes.contains { $0.contains("Flatten") }, "\(loaded.notes)")
        XCTAssertEqual(loaded.formatVersion, "IR 6, opset 11")
    }

    func test_OI9_elementwiseGeluAndSiluInOtherSpellingsAndNoOps() throws {
        let loaded = try variant("decomposed")
        XCTAssertEqual(ONNXTestSupport.kinds(loaded.model), [.dense, .gelu, .dense, .gelu, .dense, .silu, .identity, .dense])
        XCTAssertEqual(loaded.model.layers[1].attributes["approximate"]?.stringValue, "none")
        XCTAssertEqual(loaded.model.layers[3].attributes["approximate"]?.stringValue, "tanh")
        XCTAssertEqual(loaded.model.layers[1].name, "gelu1", "the block's layer is named after its last node")
        XCTAssertTrue(loaded.notes.contains { $0.contains("Reshape") }, "\(loaded.notes)")
        XCTAssertTrue(loaded.notes.contains { $0.contains("Cast") }, "\(loaded.notes)")
    }

    func test_OI7_float16Bfloat16Float64WeightsInRawAndTypedFields() throws {
        let model = try variant("dtypes").model
        XCTAssertEqual(ONNXTestSupport.kinds(model), [.dense, .relu, .dense, .tanh, .dense])
        // A Cast to float of a stored weight keeps the stored dtype: the engine computes in float32 anyway.
        XCTAssertEqual(model.tensor(named: "w1_f16")?.tensor.dtype, .float16)
        XCTAssertEqual(model.tensor(named: "w2_bf16")?.tensor.dtype, .bfloat16)
        XCTAssertEqual(model.tensor(named: "w2_bf16")?.layout, .inOut)
        XCTAssertEqual(model.tensor(named: "w3_f64")?.tensor.dtype, .float64)
        XCTAssertEqual(model.tensor(named: "w3_f64")?.layout, .inOut, "transB=0")
        XCTAssertEqual(model.tensor(named: "b1_typed")?.tensor.dtype, .float32)
        XCTAssertEqual(model.tensor(named: "b3_f64")?.tensor.dtype, .float64)
    }

    func test_OT3_externalDataNextToTheModel() throws {
        let path = try ONNXTestSupport.model("variants/external/model.onnx")
        let loaded = try ONNXTestSupport.assertReproduces(path, input: "expected/onnx/variants/external.input.npy",
                                                          expected: "expected/onnx/variants/external.output.npy")
        XCTAssertEqual(loaded.model.tensors.map(\.name), ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
    }

    func test_OI1_severalOutputsPicksTheFirstFloatOutputAndPrunesOtherBranches() throws {
        // Outputs: label (int64, ArgMax), probs, logits, aux (org.example::Scale). The default is probs.
        let loaded = try variant("multi_output", suffix: ".probs")
        XCTAssertEqual(ONNXTestSupport.kinds(loaded.model), [.dense, .relu, .dense, .softmax])
        XCTAssertTrue(loaded.notes.contains { $0.contains("4 outputs") }, "\(loaded.notes)")
        let logits = try variant("multi_output", outputName: "logits", suffix: ".logits")
        XCTAssertEqual(ONNXTestSupport.kinds(logits.model), [.dense, .relu, .dense])
    }

    func test_OI3_severalOutputsRefusesBranchesItCannotMap() throws {
        let path = try ONNXTestSupport.model("variants/multi_output.onnx")
        XCTAssertThrowsError(try ONNXFormat.read(path: path, outputName: "aux")) { error in
            let error = error as? ONNXError
            XCTAssertEqual(error?.kind, .unsupported)
            XCTAssertTrue(error?.message.contains("'aux' (org.example::Scale)") ?? false, "\(String(describing: error))")
        }
        XCTAssertThrowsError(try ONNXFormat.read(path: path, outputName: "label")) { error in
            XCTAssertTrue((error as? ONNXError)?.message.contains("'argmax' (ArgMax)") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try ONNXFormat.read(path: path, outputName: "nope")) { error in
            let error = error as? ONNXError
            XCTAssertEqual(error?.kind, .invalidRequest)
            XCTAssertTrue(error?.message.contains("'label', 'probs', 'logits', 'aux'") ?? false, "\(String(describing: error))")
        }
    }
}
