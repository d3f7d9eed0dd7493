import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import SwiftProtobuf
import XCTest

/// The import rules of Specs/interop/onnx.md section 3 on small graphs built here, one rule at a time. (Numerical
/// agreement with onnxruntime is checked on the committed fixtures in ONNXImportTests; these check structure and the
/// errors of graphs that must be refused.)
final class ONNXGraphRulesTests: XCTestCase {
    /// A graph `input [batch, 4] → nodes → output`, with 4×4 / 3×4 weights `w`, `w3` and bias `b`.
    private struct GraphBuilder {
        var model = Onnx_ModelProto()
        var opset: Int64 = 17

        init(inputDims: [Onnx_TensorShapeProto.Dimension.OneOf_Value] = [.dimParam("batch"), .dimValue(4)],
             inputType: Int32 = ONNXDataType.float) {
            model.irVersion = 8
            var input = Onnx_ValueInfoProto()
            input.name = "input"
            input.type.tensorType.elemType = inputType
            input.type.tensorType.shape.dim = inputDims.map { value in
                var dim = Onnx_TensorShapeProto.Dimension()
                dim.value = value
                return dim
            }
            model.graph.input = [input]
            var output = Onnx_ValueInfoProto()
            output.name = "output"
            output.type.tensorType.elemType = ONNXDataType.float
            model.graph.output = [output]
            initializer("w", (0..<16).map { Float($0 % 5) / 4 - 0.5 }, [4, 4])
            initializer("w3", (0..<12).map { Float($0 % 7) / 6 - 0.5 }, [3, 4])
            initializer("b", [0.1, -0.2, 0.3, -0.4], [4])
        }

        mutating func initializer(_ name: String, _ values: [Float], _ dims: [Int64]) {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            tensor.dataType = ONNXDataType.float
            tensor.dims = dims
            tensor.floatData = values
            model.graph.initializer.append(tensor)
        }

        mutating func int64Initializer(_ name: String, _ values: [Int64]) {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            tensor.dataType = ONNXDataType.int64
            tensor.dims = [Int64(values.count)]
            tensor.int64Data = values
            model.graph.initializer.append(tensor)
        }

        mutating func node(_ op: String, _ inputs: [String], _ output: String, name: String? = nil,
                           ints: [String: Int64] = [:], floats: [String: Float] = [:], strings: [String: String] = [:]) {
            var node = Onnx_NodeProto()
            node.opType = op
            node.name = name ?? output
            node.input = inputs
            node.output = [output]
            for (key, value) in ints.sorted(by: { $0.key < $1.key }) {
                var attribute = Onnx_AttributeProto()
                attribute.name = key
                attribute.type = .int
                attribute.i = value
                node.attribute.append(attribute)
            }
            for (key, value) in floats.sorted(by: { $0.key < $1.key }) {
                var attribute = Onnx_AttributeProto()
                attribute.name = key
                attribute.type = .float
                attribute.f = value
                node.attribute.append(attribute)
            }
            for (key, value) in strings.sorted(by: { $0.key < $1.key }) {
                var attribute = Onnx_AttributeProto()
                attribute.name = key
                attribute.type = .string
                attribute.s = Data(value.utf8)
                node.attribute.append(attribute)
            }
            model.graph.node.append(node)
        }

        func write(in test: XCTestCase) throws -> String {
            var proto = model
            var set = Onnx_OperatorSetIdProto()
            set.version = opset
            proto.opsetImport = [set]
            let path = try FixturePaths.scratchDirectory(for: test) + "/graph.onnx"
            try FixturePaths.write(try proto.serializedBytes(), to: path)
            return path
        }
    }

    private func assertRefused(_ builder: GraphBuilder, _ fragment: String, kind: ONNXError.Kind = .unsupported,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try builder.write(in: self)
        XCTAssertThrowsError(try ONNXFormat.read(path: path), file: file, line: line) { error in
            XCTAssertEqual((error as? ONNXError)?.kind, kind, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(fragment), "«\(error)» lacks «\(fragment)»", file: file, line: line)
        }
    }

    func test_OI3_softmaxOverTheBatchIsRefused() throws {
        var graph = GraphBuilder()
        graph.node("Softmax", ["input"], "output", ints: ["axis": 0])
        try assertRefused(graph, "normalises over axis 0")
    }

    func test_OI3_dropoutInTrainingModeIsRefused() throws {
        var graph = GraphBuilder()
        graph.initializer("ratio", [0.1], [])
        var mode = Onnx_TensorProto()
        mode.name = "training"
        mode.dataType = ONNXDataType.bool
        mode.int32Data = [1]
        graph.model.graph.initializer.append(mode)
        graph.node("Dropout", ["input", "ratio", "training"], "output")
        try assertRefused(graph, "runs in training mode")
    }

    func test_OI3_noOpsThatAreNotNoOpsAreRefused() throws {
        var flatten = GraphBuilder()
        flatten.node("Flatten", ["input"], "output", ints: ["axis": 0])
        try assertRefused(flatten, "axis=0 changes a [batch, features] value")
        var reshape = GraphBuilder()
        reshape.int64Initializer("shape", [-1, 2])
        reshape.node("Reshape", ["input", "shape"], "output")
        try assertRefused(reshape, "to [-1, 2] changes a [batch, 4] value")
        var cast = GraphBuilder()
        cast.node("Cast", ["input"], "output", ints: ["to": Int64(ONNXDataType.int64)])
        try assertRefused(cast, "converts the running value to int64")
        var gelu = GraphBuilder()
        gelu.node("Gelu", ["input"], "output", strings: ["approximate": "fast"])
        try assertRefused(gelu, "approximate='fast'")
    }

    func test_OI8_weightsAndBiasesThatAreNotADenseLayerAreRefused() throws {
        var leftMultiply = GraphBuilder()
        leftMultiply.node("MatMul", ["w", "input"], "output", name: "wx")
        try assertRefused(leftMultiply, "'wx' (MatMul) reads the running value 'input' in another position")
        var rowBias = GraphBuilder()
        rowBias.initializer("rows", [Float](repeating: 1, count: 8), [2, 4])
        rowBias.node("Gemm", ["input", "w", "rows"], "output", name: "fc")
        try assertRefused(rowBias, "bias 'rows' has shape [2, 4]")
        var variableWeight = GraphBuilder()
        variableWeight.node("Relu", ["input"], "r")
        variableWeight.node("Gemm", ["input", "r"], "output", name: "fc")
        try assertRefused(variableWeight, "not a chain")
        var wrongWidth = GraphBuilder()
        wrongWidth.node("Gemm", ["input", "w3"], "h", name: "fc1", ints: ["transB": 1])
        wrongWidth.node("Gemm", ["h", "w3"], "output", name: "fc2", ints: ["transB": 1])
        try assertRefused(wrongWidth, "'fc2' (Gemm): weight 'w3' [3, 4] stored [out, in] takes 4 input features, but 3 reach it",
                          kind: .corrupt)
    }

    func test_OI9_elementwiseBlocksThatAreNoActivationAreRefused() throws {
        var scale = GraphBuilder()
        scale.initializer("two", [2], [])
        scale.node("Mul", ["input", "two"], "output", name: "double")
        try assertRefused(scale, "do not compute an activation ModelKit knows")
        // x·sigmoid(x)·2 is a SiLU followed by a scale: the SiLU maps, the scale does not.
        var scaledSilu = GraphBuilder()
        scaledSilu.initializer("two", [2], [])
        scaledSilu.node("Sigmoid", ["input"], "s")
        scaledSilu.node("Mul", ["input", "s"], "silu")
        scaledSilu.node("Mul", ["silu", "two"], "output", name: "double")
        try assertRefused(scaledSilu, "'double' (Mul)")
    }

    func test_OI4_inputsThatAreNotFeatureRowsAreRefused() throws {
        var tokens = GraphBuilder(inputType: ONNXDataType.int64)
        tokens.node("Relu", ["input"], "output")
        try assertRefused(tokens, "input 'input' is int64")
        var image = GraphBuilder(inputDims: [.dimParam("batch"), .dimValue(3), .dimValue(4)])
        image.node("Relu", ["input"], "output")
        try assertRefused(image, "input 'input' of shape [batch, 3, 4] is read by 'output' (Relu); ModelKit maps [batch, features] inputs, or inputs that a first Flatten")
        var dynamic = GraphBuilder(inputDims: [.dimParam("batch"), .dimParam("h"), .dimValue(4)])
        dynamic.node("Flatten", ["input"], "output")
        try assertRefused(dynamic, "has 3 dimensions [batch, h, 4] and not all of them after the batch are fixed")
        var reshapedAway = GraphBuilder(inputDims: [.dimParam("batch"), .dimValue(3), .dimValue(4)])
        reshapedAway.int64Initializer("shape", [3, -1])
        reshapedAway.node("Reshape", ["input", "shape"], "output")
        try assertRefused(reshapedAway, "reshapes input 'input' of shape [batch, 3, 4] to [3, -1]; only a flatten to [batch, 12] maps")
    }

    func test_OI4_fixedBatchAndSymbolicFeatures() throws {
        var fixed = GraphBuilder(inputDims: [.dimValue(1), .dimValue(4)])
        fixed.node("Gemm", ["input", "w", "b"], "output", ints: ["transB": 1])
        let loaded = try ONNXFormat.read(path: try fixed.write(in: self))
        XCTAssertEqual(loaded.model.info.inputShape, [nil, 4])
        XCTAssertTrue(loaded.notes.contains { $0.contains("fixes the batch size at 1") }, "\(loaded.notes)")
        var symbolic = GraphBuilder(inputDims: [.dimParam("batch"), .dimParam("features")])
        symbolic.node("Gemm", ["input", "w3"], "output", ints: ["transB": 1])
        XCTAssertEqual(try ONNXFormat.read(path: try symbolic.write(in: self)).model.info.inputShape, [nil, 4],
                       "from the first dense layer")
    }

    func test_OI6_namesAreMadeUniqueAndSharedWeightsStayOneTensor() throws {
        var graph = GraphBuilder()
        graph.node("Gemm", ["input", "w", "b"], "h1", name: "", ints: ["transB": 1])
        graph.node("Relu", ["h1"], "a1", name: "same")
        graph.node("Gemm", ["a1", "w", "b"], "h2", name: "", ints: ["transB": 1])
        graph.node("Relu", ["h2"], "a2", name: "same")
        // The same weight used with the other orientation cannot share the tensor's layout tag.
        graph.node("Gemm", ["a2", "w"], "output", name: "fc3", ints: ["transB": 0])
        let model = try ONNXFormat.read(path: try graph.write(in: self)).model
        XCTAssertEqual(model.layers.map(\.name), ["dense_1", "same", "dense_3", "same_2", "fc3"])
        XCTAssertEqual(model.layers[0].parameters, model.layers[2].parameters, "one shared tensor")
        XCTAssertEqual(model.layers[4].parameters["weight"], "fc3.weight")
        XCTAssertEqual(model.tensors.map(\.name), ["w", "b", "fc3.weight"])
        XCTAssertEqual(model.tensor(named: "w")?.layout, .outIn)
        XCTAssertEqual(model.tensor(named: "fc3.weight")?.layout, .inOut)
        XCTAssertTrue(model.analyze().isValid, "\(model.analyze().issues)")
    }

    func test_OI7_constantNodeWeightsAndIdentityChains() throws {
        var graph = GraphBuilder()
        var weight = Onnx_TensorProto()
        weight.dataType = ONNXDataType.float
        weight.dims = [4, 2]
        weight.floatData = [1, 2, 3, 4, 5, 6, 7, 8]
        var attribute = Onnx_AttributeProto()
        attribute.name = "value"
        attribute.type = .tensor
        attribute.t = weight
        var constant = Onnx_NodeProto()
        constant.opType = "Constant"
        constant.name = "weights"
        constant.output = ["cw"]
        constant.attribute = [attribute]
        graph.model.graph.node.append(constant)
        graph.node("Identity", ["cw"], "cw_id", name: "pass")
        graph.node("MatMul", ["input", "cw_id"], "output", name: "fc")
        let model = try ONNXFormat.read(path: try graph.write(in: self)).model
        XCTAssertEqual(model.layers.map(\.kind), [.dense])
        XCTAssertEqual(model.tensor(named: "cw")?.tensor.floatValues(), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(model.tensor(named: "cw")?.layout, .inOut)
    }

    func test_OI5_sideBranchJoiningLaterIsRefused() throws {
        var graph = GraphBuilder()
        graph.node("Gemm", ["input", "w", "b"], "h", name: "fc", ints: ["transB": 1])
        graph.node("Relu", ["h"], "r", name: "act")
        graph.node("Sigmoid", ["h"], "s", name: "gate")
        graph.node("Mul", ["r", "s"], "output", name: "join")
        try assertRefused(graph, "value 'h' feeds 2 nodes ('act' (Relu), 'gate' (Sigmoid))")
    }
}
