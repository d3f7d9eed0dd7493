import ModelKitCore

/// `Gemm` and `MatMul` (+ `Add`) as dense layers.
extension ONNXChainMapper {
    /// `Gemm(A, B, C)`: `Y = alpha·A'·B' + beta·C` with `A' = A` (transA must be 0: the running value is `A`) and
    /// `B' = Bᵀ` when transB = 1. transB = 1 stores the weight `[out, in]` (`out_in`), transB = 0 `[in, out]`
    /// (`in_out`). alpha and beta other than 1 are folded into copies of the weight and bias.
    func mapGemm(_ index: Int) throws(ONNXError) -> String {
        let node = graph.nodes[index]
        let label = graph.describe(index)
        guard node.input.count >= 2 else {
            throw ONNXError(.corrupt, "\(label) has \(node.input.count) input(s); it needs A and B", path: path)
        }
        let transA = node.intAttribute("transA") ?? 0
        guard transA == 0 else {
            throw ONNXError(.unsupported, "\(label) has transA=\(transA): it multiplies the transposed running "
                            + "value, which is not a dense layer over [batch, features] (export with transA=0)",
                            path: path)
        }
        let transB = node.intAttribute("transB") ?? 0
        let alpha = node.floatAttribute("alpha") ?? 1
        let beta = node.floatAttribute("beta") ?? 1
        let weight = try constantWeight(node.input[1], of: label, role: "B")
        // A Transpose in front of B flips which axis is which, without moving any bytes.
        let layout: WeightLayout = ((transB != 0) != weight.transposed) ? .outIn : .inOut
        let (inFeatures, outFeatures) = try checkWeight(weight, layout: layout, label: label)
        var bias: ONNXConstant?
        if node.input.count > 2, !node.input[2].isEmpty, beta != 0 {
            guard let resolved = try constants.resolve(node.input[2]) else {
                throw ONNXError(.unsupported, "\(label): its bias C \(MessageText.quoted(node.input[2])) is not a "
                                + "constant (an initializer or Constant)", path: path)
            }
            bias = resolved
        }
        return try addDense(index, weight: weight, layout: layout, alpha: alpha, bias: bias, beta: beta,
                            inFeatures: inFeatures, outFeatures: outFeatures, extraNodes: [],
                            output: node.output[0])
    }

    /// `MatMul(x, W)` with a constant `W` `[in, out]` (`in_out`; `out_in` when `W` is a `Transpose` of the stored
    /// tensor), then an optional `Add` of a constant bias, in either operand order.
    func mapMatMul(_ index: Int) throws(ONNXError) -> String {
        let node = graph.nodes[index]
        let label = graph.describe(index)
        guard node.input.count == 2 else {
            throw ONNXError(.corrupt, "\(label) has \(node.input.count) inputs; it needs 2", path: path)
        }
        let weight = try constantWeight(node.input[1], of: label, role: "its second operand")
        let layout: WeightLayout = weight.transposed ? .outIn : .inOut
        let (inFeatures, outFeatures) = try checkWeight(weight, layout: layout, label: label)
        var output = node.output[0]
        var bias: ONNXConstant?
        var extra: [Int] = []
        let readers = unusedReaders(of: output)
        if readers.count == 1, let add = readers.first, graph.nodes[add].opType == "Add",
           graph.nodes[add].isDefaultDomain, graph.nodes[add].input.count == 2,
           let addOutput = graph.nodes[add].output.first, !addOutput.isEmpty {
            let operands = graph.nodes[add].input
            let other = operands[0] == output ? operands[1] : operands[0]
            if other != output, let constant = try constants.resolve(other) {
                bias = constant
                extra = [add]
                output = addOutput
            }
        }
        return try addDense(index, weight: weight, layout: layout, alpha: 1, bias: bias, beta: 1,
                            inFeatures: inFeatures, outFeatures: outFeatures, extraNodes: extra, output: output)
    }

    /// The constant 2-D floating-point weight `value`, or an error naming the node.
    private func constantWeight(_ value: String, of label: String, role: String) throws(ONNXError) -> ONNXConstant {
        guard let weight = try constants.resolve(value) else {
            throw ONNXError(.unsupported, "\(label): \(role) \(MessageText.quoted(value)) is not a constant weight (an "
                            + "initializer, Constant, or Transpose of one); ModelKit maps layers with fixed weights",
                            path: path)
        }
        guard weight.tensor.shape.rank == 2, weight.tensor.dtype.isFloatingPoint else {
            throw ONNXError(.unsupported, "\(label): weight \(MessageText.quoted(weight.sourceName)) is "
                            + "\(weight.tensor.dtype.rawValue) \(weight.tensor.shape); a dense weight is a 2-D "
                            + "floating-point matrix", path: path)
        }
        return weight
    }

    /// `(in, out)` of a weight in `layout`, checked against the features reaching the layer.
    private func checkWeight(_ weight: ONNXConstant, layout: WeightLayout,
                             label: String) throws(ONNXError) -> (Int, Int) {
        let dims = weight.tensor.shape.dimensions
        let (inFeatures, outFeatures) = layout.features(rows: dims[0], columns: dims[1])
        if let features, features != inFeatures {
            throw ONNXError(.corrupt, "\(label): weight \(MessageText.quoted(weight.sourceName)) \(weight.tensor.shape) "
                            + "stored \(layout.axesDescription) takes \(inFeatures) input features, but \(features) "
                            + "reach it", path: path)
        }
        return (inFeatures, outFeatures)
    }

    private func addDense(_ index: Int, weight: ONNXConstant, layout: WeightLayout, alpha: Float, bias: ONNXConstant?,
                          beta: Float, inFeatures: Int, outFeatures: Int, extraNodes: [Int],
                          output: String) throws(ONNXError) -> String {
        let node = graph.nodes[index]
        let label = graph.describe(index)
        let name = layerName(for: node, kind: .dense)
        var weightTensor = weight.tensor
        var weightName = weight.sourceName
        if alpha != 1 {
            weightTensor = Self.scaled(weight.tensor, by: alpha)
            weightName = name + ".weight"
            notes.append("folded alpha=\(alpha) of \(label) into a copy of weight "
                         + "\(MessageText.quoted(weight.sourceName)) named \(MessageText.quoted(weightName))")
        }
        var parameters = ["weight": register(weightTensor, name: weightName, layout: layout, fallback: name + ".weight")]
        used.insert(index)
        used.formUnion(weight.nodes)
        used.formUnion(extraNodes)
        if let bias {
            let (vector, changed) = try biasVector(bias, outFeatures: outFeatures, scale: beta, label: label)
            let biasName = changed ? name + ".bias" : bias.sourceName
            if changed {
                notes.append("made bias \(MessageText.quoted(biasName)) of \(label) from "
                             + "\(MessageText.quoted(bias.sourceName)) \(bias.tensor.shape)"
                             + (beta != 1 ? " scaled by beta=\(beta)" : ""))
            }
            parameters["bias"] = register(vector, name: biasName, layout: nil, fallback: name + ".bias")
            used.formUnion(bias.nodes)
        }
        model.layers.append(Layer(name: name, kind: .dense, parameters: parameters))
        features = outFeatures
        return output
    }

    /// The bias as a `[out]` vector: `[out]` and `[1, out]` as they are (a view), a scalar broadcast, and a copy
    /// when `scale` is not 1. Returns whether the values differ from the stored tensor's.
    private func biasVector(_ bias: ONNXConstant, outFeatures: Int, scale: Float,
                            label: String) throws(ONNXError) -> (Tensor, Bool) {
        let tensor = bias.tensor
        guard tensor.dtype.isFloatingPoint else {
            throw ONNXError(.unsupported, "\(label): bias \(MessageText.quoted(bias.sourceName)) is "
                            + "\(tensor.dtype.rawValue); a dense bias is floating-point", path: path)
        }
        let count = tensor.elementCount
        if count == 1, outFeatures != 1 {
            let value = Float(tensor.element(at: 0)) * scale
            return (Tensor(float32: Array(repeating: value, count: outFeatures), shape: [outFeatures]), true)
        }
        let dims = tensor.shape.dimensions
        let logical = bias.transposed ? Array(dims.reversed()) : dims
        guard logical == [outFeatures] || logical == [1, outFeatures] else {
            throw ONNXError(.unsupported, "\(label): bias \(MessageText.quoted(bias.sourceName)) has shape "
                            + "\(Shape(logical)); a dense bias is [\(outFeatures)], [1, \(outFeatures)] or a scalar "
                            + "(a bias that varies by batch row is not a dense layer)", path: path)
        }
        if scale != 1 { return (Self.scaled(tensor, by: scale).reshapedOrSelf([outFeatures]), true) }
        return (tensor.reshapedOrSelf([outFeatures]), bias.isConverted)
    }

    /// A float32 copy of `tensor` times `factor`.
    static func scaled(_ tensor: Tensor, by factor: Float) -> Tensor {
        Tensor(float32: tensor.floatValues().map { $0 * factor }, shape: tensor.shape)
    }

    /// Adds a tensor under `name`, reusing an equal tensor already there (a weight shared by layers), or under a
    /// fresh name derived from `fallback` when `name` holds something else.
    func register(_ tensor: Tensor, name: String, layout: WeightLayout?, fallback: String) -> String {
        var chosen = name.isEmpty ? fallback : name
        if let existing = model.tensor(named: chosen) {
            if existing.layout == layout, existing.tensor.hasSameContents(as: tensor) { return chosen }
            let taken = Set(model.tensors.map(\.name))
            var counter = 2
            chosen = fallback
            while taken.contains(chosen) {
                chosen = "\(fallback)_\(counter)"
                counter += 1
            }
        }
        model.addTensor(ModelTensor(name: chosen, tensor: tensor, layout: layout,
                                    layoutSource: layout == nil ? nil : .declared))
        return chosen
    }
}

extension Tensor {
    /// The same bytes with `shape`, when the element counts agree (they do for every caller).
    fileprivate func reshapedOrSelf(_ shape: Shape) -> Tensor {
        (try? reshaped(shape)) ?? self
    }
}
