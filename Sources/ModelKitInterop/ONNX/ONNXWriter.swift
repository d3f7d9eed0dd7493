import Foundation
import ModelKitCore
import ModelKitFormat
import SwiftProtobuf

/// Builds the ONNX graph of a ModelKit model (see Specs/interop/onnx.md, "Export").
///
/// One node (or a small fixed group of nodes) per layer, in order, from graph input `input` `[batch, in]` to graph
/// output `output` `[batch, out]`. Dense layers are `Gemm` with the weight as stored (`transB` = 1 for `out_in`,
/// 0 for `in_out`), so nothing is transposed on the way out. Weights are written as float32 initializers under the
/// model's own tensor names; node names are the layer names.
struct ONNXWriter {
    /// The default-domain operator set written: 17 is what onnxruntime 1.12+ and every current exporter read.
    static let opsetVersion: Int64 = 17
    /// IR version 8 is the one that goes with opset 17 (onnx 1.12).
    static let irVersion: Int64 = 8

    let model: Model
    let path: String
    private var graph = Onnx_GraphProto()
    private var valueNames = Set<String>()
    private var writtenTensors = Set<String>()

    init(model: Model, path: String) {
        self.model = model
        self.path = path
    }

    /// The ONNX model of `model`, or an error saying which layer or tensor cannot be written.
    mutating func build(producerVersion: String) throws(ONNXError) -> Onnx_ModelProto {
        let analysis = model.analyze()
        if let problem = analysis.errors.first {
            throw ONNXError(.invalidRequest, "cannot export an invalid model: \(problem)", path: path)
        }
        guard !model.layers.isEmpty else {
            throw ONNXError(.invalidRequest, "the model has no layers; there is nothing to export", path: path)
        }
        let inputFeatures = model.info.inputFeatures ?? model.layers.lazy.compactMap(inputFeatures(of:)).first
        guard let inputFeatures else {
            throw ONNXError(.invalidRequest, "the model's input feature count is unknown; set its input shape to "
                            + "[null, features]", path: path)
        }
        guard let outputFeatures = analysis.outputShape.last ?? nil else {
            throw ONNXError(.invalidRequest, "the model's output feature count cannot be inferred", path: path)
        }
        graph.name = model.info.name.isEmpty ? "modelkit" : model.info.name
        valueNames = Set(model.tensors.map(\.name))
        valueNames.insert("input")
        valueNames.insert("output")
        graph.input = [Self.valueInfo("input", features: inputFeatures)]
        graph.output = [Self.valueInfo("output", features: outputFeatures)]

        var current = "input"
        for (position, layer) in model.layers.enumerated() {
            let isLast = position == model.layers.count - 1
            let result = isLast ? "output" : uniqueValue(layer.name)
            try emit(layer, input: current, output: result)
            current = result
        }

        var proto = Onnx_ModelProto()
        proto.irVersion = Self.irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opsetVersion
        proto.opsetImport = [opset]
        proto.producerName = "modelkit"
        if !producerVersion.isEmpty { proto.producerVersion = producerVersion }
        proto.graph = graph
        proto.metadataProps = model.info.metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return proto
    }

    // MARK: Layers

    private mutating func emit(_ layer: Layer, input: String, output: String) throws(ONNXError) {
        switch layer.kind {
        case .dense:
            guard let weight = model.parameter("weight", of: layer), let layout = weight.layout else {
                throw ONNXError(.invalidRequest, "dense layer \(MessageText.quoted(layer.name)) has no weight with a "
                                + "layout", path: path)
            }
            var inputs = [input, try initializer(weight)]
            if let bias = model.parameter("bias", of: layer) { inputs.append(try initializer(bias)) }
            add("Gemm", layer.name, inputs, output, [Self.int("transB", layout == .outIn ? 1 : 0),
                                                     Self.float("alpha", 1), Self.float("beta", 1)])
        case .relu: add("Relu", layer.name, [input], output)
        case .sigmoid: add("Sigmoid", layer.name, [input], output)
        case .tanh: add("Tanh", layer.name, [input], output)
        case .identity: add("Identity", layer.name, [input], output)
        case .leakyRelu: add("LeakyRelu", layer.name, [input], output, [Self.float("alpha", layer.alpha)])
        case .softmax, .logSoftmax:
            guard layer.axis == -1 || layer.axis == 1 else {
                throw ONNXError(.invalidRequest, "layer \(MessageText.quoted(layer.name)) normalises over axis "
                                + "\(layer.axis); only the features (-1) can be exported", path: path)
            }
            add(layer.kind == .softmax ? "Softmax" : "LogSoftmax", layer.name, [input], output, [Self.int("axis", -1)])
        case .dropout:
            let rate = Float(layer.attributes["rate"]?.doubleValue ?? 0.5)
            let ratio = constant(layer.name, "ratio", rate)
            add("Dropout", layer.name, [input, ratio], output)
        case .silu:
            let gate = uniqueValue(layer.name + "/sigmoid")
            add("Sigmoid", layer.name + "/Sigmoid", [input], gate)
            add("Mul", layer.name, [input, gate], output)
        case .gelu:
            if layer.usesTanhApproximation { emitTanhGelu(layer.name, input: input, output: output) } else {
                emitErfGelu(layer.name, input: input, output: output)
            }
        }
    }

    /// `0.5·x·(1 + erf(x/√2))` with opset-17 ops (`Gelu` itself is opset 20).
    private mutating func emitErfGelu(_ name: String, input: String, output: String) {
        let scaled = uniqueValue(name + "/div"), erf = uniqueValue(name + "/erf")
        let plusOne = uniqueValue(name + "/add"), product = uniqueValue(name + "/mul")
        add("Div", name + "/Div", [input, constant(name, "sqrt2", Float(2.0.squareRoot()))], scaled)
        add("Erf", name + "/Erf", [scaled], erf)
        add("Add", name + "/Add", [erf, constant(name, "one", 1)], plusOne)
        add("Mul", name + "/Mul", [input, plusOne], product)
        add("Mul", name, [product, constant(name, "half", 0.5)], output)
    }

    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, the tanh approximation, with opset-17 ops.
    private mutating func emitTanhGelu(_ name: String, input: String, output: String) {
        let square = uniqueValue(name + "/square"), cube = uniqueValue(name + "/cube")
        let term = uniqueValue(name + "/cubic_term"), inner = uniqueValue(name + "/inner")
        let scaled = uniqueValue(name + "/scaled"), tanh = uniqueValue(name + "/tanh")
        let plusOne = uniqueValue(name + "/add"), product = uniqueValue(name + "/mul")
        add("Mul", name + "/Square", [input, input], square)
        add("Mul", name + "/Cube", [square, input], cube)
        add("Mul", name + "/CubicTerm", [cube, constant(name, "coefficient", 0.044715)], term)
        add("Add", name + "/Inner", [input, term], inner)
        add("Mul", name + "/Scale", [inner, constant(name, "sqrt_2_over_pi", Float((2 / Double.pi).squareRoot()))], scaled)
        add("Tanh", name + "/Tanh", [scaled], tanh)
        add("Add", name + "/Add", [tanh, constant(name, "one", 1)], plusOne)
        add("Mul", name + "/Mul", [input, plusOne], product)
        add("Mul", name, [product, constant(name, "half", 0.5)], output)
    }

    // MARK: Graph pieces

    private mutating func add(_ op: String, _ name: String, _ inputs: [String], _ output: String,
                              _ attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = [output]
        node.attribute = attributes
        graph.node.append(node)
    }

    /// A scalar float32 `Constant` node (kept out of the initializers, which hold only the model's tensors).
    private mutating func constant(_ layer: String, _ role: String, _ value: Float) -> String {
        let output = uniqueValue(layer + "/" + role)
        var tensor = Onnx_TensorProto()
        tensor.dataType = ONNXDataType.float
        tensor.floatData = [value]
        var attribute = Onnx_AttributeProto()
        attribute.name = "value"
        attribute.type = .tensor
        attribute.t = tensor
        add("Constant", output, [], output, [attribute])
        return output
    }

    /// Writes `entry` as a float32 initializer once (layers may share a tensor); returns its name.
    private mutating func initializer(_ entry: ModelTensor) throws(ONNXError) -> String {
        guard !writtenTensors.contains(entry.name) else { return entry.name }
        let source = entry.tensor
        let tensor: Tensor
        if source.dtype == .float32 {
            tensor = source
        } else {
            // ONNX Gemm takes one float type for all of its inputs; float32 keeps every float16/bfloat16 value exact.
            tensor = Tensor(float32: source.floatValues(), shape: source.shape)
        }
        var proto = Onnx_TensorProto()
        proto.name = entry.name
        proto.dataType = ONNXDataType.float
        proto.dims = tensor.shape.dimensions.map(Int64.init)
        proto.rawData = Data(tensor.bytes)
        graph.initializer.append(proto)
        writtenTensors.insert(entry.name)
        return entry.name
    }

    /// A value name not used yet (values share one namespace with initializers).
    private mutating func uniqueValue(_ base: String) -> String {
        var name = base
        var counter = 2
        while valueNames.contains(name) {
            name = "\(base)_\(counter)"
            counter += 1
        }
        valueNames.insert(name)
        return name
    }

    private func inputFeatures(of layer: Layer) -> Int? {
        guard layer.kind == .dense, let weight = model.parameter("weight", of: layer), weight.tensor.shape.rank == 2,
              let layout = weight.layout else { return nil }
        let dims = weight.tensor.shape.dimensions
        return layout.features(rows: dims[0], columns: dims[1]).input
    }

    private static func valueInfo(_ name: String, features: Int) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "batch"
        var width = Onnx_TensorShapeProto.Dimension()
        width.dimValue = Int64(features)
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = ONNXDataType.float
        tensorType.shape.dim = [batch, width]
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensorType
        return info
    }

    private static func int(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = value
        return attribute
    }

    private static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }
}
