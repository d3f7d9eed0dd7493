import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Export: the graph written, round trips through our importer, and live runs in onnxruntime.
final class ONNXExportTests: XCTestCase {
    /// Every layer kind, both layouts, float16/bfloat16/float64 weights, a dense layer without bias.
    static func everyKindModel(final: LayerKind = .logSoftmax) -> Model {
        var generator = SplitMix64(seed: 21)
        var model = Model(info: ModelInfo(name: "every_kind", producer: "ONNXExportTests", sourceFormat: "modelkit",
                                          inputShape: [nil, 6], metadata: ["purpose": "export test", "b": "2"]))
        let plan: [(Int, Int, WeightLayout, DType, Bool, [(String, LayerKind, JSONObject)])] = [
            (6, 8, .outIn, .float32, true, [("act1", .leakyRelu, JSONObject([("alpha", .double(0.2))]))]),
            (8, 8, .inOut, .float16, true, [("act2", .gelu, JSONObject([("approximate", .string("none"))]))]),
            (8, 7, .outIn, .bfloat16, true, [("act3", .gelu, JSONObject([("approximate", .string("tanh"))]))]),
            (7, 7, .inOut, .float64, true, [("act4", .silu, JSONObject())]),
            (7, 6, .outIn, .float32, false, [("act5", .sigmoid, JSONObject())]),
            (6, 5, .inOut, .float32, true, [("act6", .tanh, JSONObject()), ("keep", .identity, JSONObject()),
                                            ("drop", .dropout, JSONObject([("rate", .double(0.3))])),
                                            ("act7", .relu, JSONObject())]),
            (5, 4, .outIn, .float32, true, [("out", final, JSONObject([("axis", .integer(-1))]))]),
        ]
        for (index, (inputs, outputs, layout, dtype, hasBias, after)) in plan.enumerated() {
            let name = "fc\(index + 1)"
            let shape: Shape = layout == .outIn ? [outputs, inputs] : [inputs, outputs]
            let scale = 1.5 / Float(inputs).squareRoot()
            let values = (0..<(inputs * outputs)).map { _ in Float.random(in: -scale...scale, using: &generator) * 1.7 }
            var weight = Tensor(float32: values, shape: shape)
            if dtype != .float32, let converted = try? weight.converted(to: dtype) { weight = converted }
            model.addTensor(ModelTensor(name: "\(name).weight", tensor: weight, layout: layout, layoutSource: .declared))
            var parameters = ["weight": "\(name).weight"]
            if hasBias {
                let bias = (0..<outputs).map { _ in Float.random(in: -0.5...0.5, using: &generator) }
                model.addTensor(ModelTensor(name: "\(name).bias", tensor: Tensor(float32: bias, shape: [outputs])))
                parameters["bias"] = "\(name).bias"
            }
            model.layers.append(Layer(name: name, kind: .dense, parameters: parameters))
            for (layerName, kind, attributes) in after {
                model.layers.append(Layer(name: layerName, kind: kind, attributes: attributes))
            }
        }
        return model
    }

    private func sampleInput(batch: Int, features: Int) -> [Float] {
        var generator = SplitMix64(seed: 77)
        return (0..<(batch * features)).map { _ in Float.random(in: -3...3, using: &generator) }
    }

    func test_OE1_exportWritesOpset17IR8DynamicBatchAndGemmPerLayout() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/every_kind.onnx"
        try ONNXFormat.write(Self.everyKindModel(), to: path, producerVersion: "0.1.0")
        let summary = try ONNXFormat.summary(path: path)
        XCTAssertEqual(summary.irVersion, 8)
        XCTAssertEqual(summary.opsetImports, [ONNXSummary.OperatorSet(domain: "ai.onnx", version: 17)])
        XCTAssertEqual(summary.producerName, "modelkit")
        XCTAssertEqual(summary.producerVersion, "0.1.0")
        XCTAssertEqual(summary.graphName, "every_kind")
        XCTAssertEqual(summary.inputs.map(\.name), ["input"])
        XCTAssertEqual(summary.inputs.first?.dimensions, [.symbolic("batch"), .fixed(6)])
        XCTAssertEqual(summary.outputs.first?.dimensions, [.symbolic("batch"), .fixed(4)])
        XCTAssertEqual(summary.metadata.map(\.key), ["b", "purpose"], "sorted for reproducible files")
        let gemms = summary.nodes.filter { $0.opType == "Gemm" }
        XCTAssertEqual(gemms.map(\.name), (1...7).map { "fc\($0)" }, "node names are the layer names")
        XCTAssertEqual(gemms.map { $0.attributes.first { $0.name == "transB" }?.value },
                       ["1", "0", "1", "0", "1", "0", "1"], "transB=1 for out_in, 0 for in_out")
        XCTAssertEqual(gemms[4].inputs.count, 2, "no bias, no C")
        // No op newer than opset 17 (Gelu is opset 20: it is written out).
        let ops = Set(summary.nodes.map(\.opType))
        XCTAssertFalse(ops.contains("Gelu"))
        XCTAssertTrue(ops.isSubset(of: ["Gemm", "LeakyRelu", "Div", "Erf", "Add", "Mul", "Constant", "Tanh", "Sigmoid",
                                        "Identity", "Dropout", "Relu", "LogSoftmax"]), "\(ops)")
        // Weights are float32 initializers under the model's names; nothing else is an initializer.
        XCTAssertEqual(summary.initializers.map(\.name), Self.everyKindModel().tensors.map(\.name))
        XCTAssertTrue(summary.initializers.allSatisfy { $0.dataType == "float32" })
    }

    func test_OE6_exportThenImportGivesTheSameLayersTensorsAndOutputs() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        for final in [LayerKind.logSoftmax, .softmax] {
            let model = Self.everyKindModel(final: final)
            let path = directory + "/round_trip_\(final.rawValue).onnx"
            try ONNXFormat.write(model, to: path)
            let back = try ONNXFormat.read(path: path).model
            XCTAssertEqual(back.layers, model.layers, "names, kinds, attributes, parameters")
            XCTAssertEqual(back.info.name, model.info.name)
            XCTAssertEqual(back.info.inputShape, [nil, 6])
            XCTAssertEqual(back.info.metadata, model.info.metadata)
            XCTAssertEqual(back.tensors.map(\.name), model.tensors.map(\.name))
            for original in model.tensors {
                let imported = try XCTUnwrap(back.tensor(named: original.name))
                XCTAssertEqual(imported.layout, original.layout, original.name)
                XCTAssertEqual(imported.tensor.shape, original.tensor.shape, original.name)
                XCTAssertEqual(imported.tensor.dtype, .float32, "export writes float32")
                if original.tensor.dtype == .float64 {
                    XCTAssertEqual(imported.tensor.floatValues(), original.tensor.floatValues(), "rounded once to float32")
                } else {
                    XCTAssertEqual(imported.tensor.floatValues(), original.tensor.floatValues(), "exact widening")
                }
            }
            let input = sampleInput(batch: 9, features: 6)
            assertClose(try ONNXTestSupport.forward(back, input: input, batch: 9),
                        try ONNXTestSupport.forward(model, input: input, batch: 9), rtol: 1e-6, atol: 1e-7)
        }
    }

    func test_OE6_torchExportReexportedRoundTrips() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let original = try ONNXFormat.read(path: try ONNXTestSupport.model("zoo_dynamo.onnx")).model
        let path = directory + "/zoo.onnx"
        try ONNXFormat.write(original, to: path)
        let back = try ONNXFormat.read(path: path).model
        XCTAssertEqual(back.layers, original.layers)
        for entry in original.tensors {
            XCTAssertTrue(try XCTUnwrap(back.tensor(named: entry.name)).tensor.hasSameContents(as: entry.tensor), entry.name)
        }
        let input = try ONNXTestSupport.array("expected/zoo/batch7.input.npy")
        let expected = try ONNXTestSupport.array("expected/onnx/zoo_dynamo.batch7.output.npy")
        assertClose(try ONNXTestSupport.forward(back, input: input.values, batch: 7), expected.values, rtol: 1e-5, atol: 1e-5)
    }

    func test_OE1_exportIsReproducibleAndAtomic() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try ONNXFormat.write(Self.everyKindModel(), to: directory + "/a.onnx")
        try ONNXFormat.write(Self.everyKindModel(), to: directory + "/b.onnx")
        XCTAssertEqual(try FixturePaths.bytes(directory + "/a.onnx"), try FixturePaths.bytes(directory + "/b.onnx"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "no temporary files left")
    }

    func test_OE5_exportRefusesModelsItCannotWrite() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        var broken = Self.everyKindModel()
        broken.layers[0].parameters["weight"] = "missing"
        XCTAssertThrowsError(try ONNXFormat.write(broken, to: directory + "/broken.onnx")) { error in
            XCTAssertEqual((error as? ONNXError)?.kind, .invalidRequest, "\(error)")
        }
        var batchSoftmax = Self.everyKindModel(final: .softmax)
        batchSoftmax.layers[batchSoftmax.layers.count - 1].attributes = JSONObject([("axis", .integer(0))])
        XCTAssertThrowsError(try ONNXFormat.write(batchSoftmax, to: directory + "/axis0.onnx")) { error in
            XCTAssertTrue("\(error)".contains("axis"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/broken.onnx"))
    }

    /// Our exported files loaded and run by onnxruntime itself (MODELKIT_PYTHON with onnxruntime and numpy).
    func test_OE2_onnxruntimeRunsExportedModelsWithTheSameOutputs() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let script = """
        import sys
        import numpy as np
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
        (result,) = session.run(["output"], {"input": np.load(sys.argv[2])})
        np.save(sys.argv[3], np.asarray(result, dtype=np.float32), allow_pickle=False)
        print(session.get_modelmeta().producer_name)
        """
        var cases: [(String, Model, [Float], Int)] = []
        cases.append(("every_kind_log", Self.everyKindModel(), sampleInput(batch: 11, features: 6), 11))
        cases.append(("every_kind_soft", Self.everyKindModel(final: .softmax), sampleInput(batch: 3, features: 6), 3))
        let example = try ONNXFormat.read(path: try ONNXTestSupport.model("example_torchscript.onnx")).model
        let exampleInput = try ONNXTestSupport.array("expected/example/batch50.input.npy")
        cases.append(("example", example, exampleInput.values, 50))
        for (name, model, input, batch) in cases {
            let onnxPath = directory + "/\(name).onnx", inputPath = directory + "/\(name).input.npy"
            let outputPath = directory + "/\(name).output.npy"
            try ONNXFormat.write(model, to: onnxPath)
            let features = input.count / batch
            try NumPyFile.writeArray(Tensor(float32: input, shape: [batch, features]), to: inputPath)
            let printed = try ONNXTestSupport.runPython(script, arguments: [onnxPath, inputPath, outputPath],
                                                        modules: ["onnxruntime", "numpy"])
            XCTAssertEqual(printed.trimmingCharacters(in: .whitespacesAndNewlines), "modelkit")
            let onnxruntime = try NumPyFile.readArray(path: outputPath).floatValues()
            assertClose(try ONNXTestSupport.forward(model, input: input, batch: batch), onnxruntime,
                        rtol: 1e-5, atol: 1e-6, name)
        }
        // And the torch example exported by us reproduces torch's own output when onnxruntime runs it.
        let torch = try ONNXTestSupport.array("expected/example/batch50.output.npy")
        assertClose(try NumPyFile.readArray(path: directory + "/example.output.npy").floatValues(), torch.values,
                    rtol: 1e-5, atol: 1e-6)
    }
}
