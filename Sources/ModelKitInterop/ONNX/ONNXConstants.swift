import ModelKitCore

/// A graph value whose content is known without running the model.
struct ONNXConstant {
    /// The stored tensor (before the transpose, when ``transposed``).
    var tensor: Tensor
    /// The name of the stored tensor in the file: the initializer, or the `Constant` node's output.
    var sourceName: String
    /// The value is `tensor` transposed by a `Transpose` node (perm `[1, 0]`) that ModelKit does not execute: the
    /// layer records the other layout instead of copying the weight.
    var transposed: Bool
    /// The nodes that compute the value from its source (`Constant`, `Transpose`, `Identity`, `Cast`); they are
    /// consumed together with the layer that reads the value.
    var nodes: [Int]
    /// True when ModelKit made a new tensor (a `Cast`), so the bytes differ from the source's.
    var isConverted: Bool

    /// The single element, for scalar constants (`[]`, `[1]`, `[1, 1]`).
    var scalar: Double? { tensor.elementCount == 1 ? tensor.element(at: 0) : nil }
}

/// Finds the constant values of a graph: initializers, `Constant` nodes, and `Identity` / `Transpose` / `Cast` of
/// those. Decodes each initializer once.
final class ONNXConstantResolver {
    let graph: ONNXGraph
    let decoder: ONNXTensorDecoder
    private var decoded: [String: Tensor] = [:]
    /// How many `Identity`/`Transpose`/`Cast` nodes may stand between a constant and its use: a bound, so that a
    /// hostile chain of a million `Identity` nodes cannot exhaust the stack.
    static let maximumDepth = 32

    init(graph: ONNXGraph, decoder: ONNXTensorDecoder) {
        self.graph = graph
        self.decoder = decoder
    }

    /// The initializer called `name`, decoded (once).
    func initializer(_ name: String) throws(ONNXError) -> Tensor? {
        if let tensor = decoded[name] { return tensor }
        guard let index = graph.initializers[name] else { return nil }
        let tensor = try decoder.decode(graph.graph.initializer[index], what: "initializer \(MessageText.quoted(name))")
        decoded[name] = tensor
        return tensor
    }

    /// The constant `value`, or `nil` when it depends on the model's input (or on an op ModelKit cannot fold).
    func resolve(_ value: String) throws(ONNXError) -> ONNXConstant? {
        try resolve(value, depth: 0)
    }

    private func resolve(_ value: String, depth: Int) throws(ONNXError) -> ONNXConstant? {
        guard depth <= Self.maximumDepth, !value.isEmpty else { return nil }
        if let tensor = try initializer(value) {
            return ONNXConstant(tensor: tensor, sourceName: value, transposed: false, nodes: [], isConverted: false)
        }
        guard let index = graph.producer[value] else { return nil }
        let node = graph.nodes[index]
        guard node.isDefaultDomain else { return nil }
        switch node.opType {
        case "Constant":
            guard let tensor = try constantValue(node, index: index) else { return nil }
            return ONNXConstant(tensor: tensor, sourceName: value, transposed: false, nodes: [index], isConverted: false)
        case "Identity":
            guard var source = try resolve(node.input.first ?? "", depth: depth + 1) else { return nil }
            source.nodes.append(index)
            return source
        case "Transpose":
            guard var source = try resolve(node.input.first ?? "", depth: depth + 1), source.tensor.shape.rank == 2 else {
                return nil
            }
            let perm = node.intsAttribute("perm") ?? []
            guard perm.isEmpty || perm == [1, 0] || perm == [0, 1] else { return nil }
            if perm != [0, 1] { source.transposed.toggle() }
            source.nodes.append(index)
            return source
        case "Cast":
            guard var source = try resolve(node.input.first ?? "", depth: depth + 1),
                  let target = node.intAttribute("to").flatMap({ Int32(exactly: $0) }).flatMap(ONNXDataType.dtype),
                  target.isFloatingPoint else { return nil }
            guard source.tensor.dtype.isFloatingPoint else { return nil }
            // ModelKit computes in float32 from any float storage, so a Cast to float32 of a float16, bfloat16 or
            // float64 weight is what the engine does anyway: keep the stored tensor. Other casts change the values.
            if target != .float32 && target != source.tensor.dtype {
                do { source.tensor = try source.tensor.converted(to: target) } catch { return nil }
                source.isConverted = true
            }
            source.nodes.append(index)
            return source
        default:
            return nil
        }
    }

    /// The tensor a `Constant` node holds (`value`, `value_float(s)`, `value_int(s)`).
    private func constantValue(_ node: Onnx_NodeProto, index: Int) throws(ONNXError) -> Tensor? {
        let what = "Constant \(graph.describe(index))"
        if let attribute = node.attribute("value"), attribute.hasT {
            return try decoder.decode(attribute.t, what: what)
        }
        if let attribute = node.attribute("value_float") {
            return Tensor(float32: [attribute.f], shape: [])
        }
        if let attribute = node.attribute("value_floats") {
            return Tensor(float32: attribute.floats, shape: [attribute.floats.count])
        }
        if let attribute = node.attribute("value_int") {
            return int64Tensor([attribute.i], shape: [])
        }
        if let attribute = node.attribute("value_ints") {
            return int64Tensor(attribute.ints, shape: [attribute.ints.count])
        }
        return nil
    }

    private func int64Tensor(_ values: [Int64], shape: Shape) -> Tensor {
        Tensor.make(dtype: .int64, shape: shape) { buffer in
            for (index, value) in values.enumerated() {
                buffer.storeBytes(of: value.littleEndian, toByteOffset: 8 * index, as: Int64.self)
            }
        }
    }
}
