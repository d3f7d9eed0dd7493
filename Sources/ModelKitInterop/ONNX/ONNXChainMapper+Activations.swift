import ModelKitCore

/// Activation ops, no-ops and element-wise blocks.
extension ONNXChainMapper {
    /// The default operator set's version (13 when the model does not import it: the modern semantics).
    var opset: Int64 { file.defaultOpset ?? 13 }

    /// `Gelu` (opset 20): attribute `approximate` is `none` (exact, erf) or `tanh`.
    func mapGelu(_ index: Int) throws(ONNXError) -> String {
        let approximate = graph.nodes[index].stringAttribute("approximate") ?? "none"
        guard approximate == "none" || approximate == "tanh" else {
            throw ONNXError(.unsupported, "\(graph.describe(index)) has approximate="
                            + "\(MessageText.quoted(approximate)); ONNX defines 'none' and 'tanh'", path: path)
        }
        return addActivation(index, .gelu, JSONObject([("approximate", .string(approximate))]))
    }

    /// `Softmax` / `LogSoftmax` over the features. On a 2-D value axis 1 and -1 are the features in every opset
    /// (before opset 13 the input is coerced to 2-D at `axis`, which for `[batch, features]` changes nothing).
    func mapSoftmax(_ index: Int) throws(ONNXError) -> String {
        let node = graph.nodes[index]
        let axis = node.intAttribute("axis") ?? (opset >= 13 ? -1 : 1)
        guard axis == 1 || axis == -1 else {
            throw ONNXError(.unsupported, "\(graph.describe(index)) normalises over axis \(axis) (the batch); "
                            + "ModelKit's \(node.opType) runs over the features (axis -1)", path: path)
        }
        let kind: LayerKind = node.opType == "Softmax" ? .softmax : .logSoftmax
        return addActivation(index, kind, JSONObject([("axis", .integer(-1))]))
    }

    /// `Dropout` at inference: the identity. The rate comes from the `ratio` input (opset 12+) or attribute.
    func mapDropout(_ index: Int) throws(ONNXError) -> String {
        let node = graph.nodes[index]
        var rate: Double = 0.5
        var constantNodes: [Int] = []
        if opset >= 12 {
            if node.input.count > 1, !node.input[1].isEmpty {
                guard let ratio = try constants.resolve(node.input[1]), let value = ratio.scalar else {
                    throw ONNXError(.unsupported, "\(graph.describe(index)): its ratio is not a constant "
                                    + "scalar", path: path)
                }
                rate = ratio.tensor.dtype == .float64 ? value : Double(Float(value).description) ?? value
                constantNodes += ratio.nodes
            }
            if node.input.count > 2, !node.input[2].isEmpty {
                guard let mode = try constants.resolve(node.input[2]), let value = mode.scalar else {
                    throw ONNXError(.unsupported, "\(graph.describe(index)): training_mode is not a constant; "
                                    + "ModelKit maps inference graphs", path: path)
                }
                guard value == 0 else {
                    throw ONNXError(.unsupported, "\(graph.describe(index)) runs in training mode "
                                    + "(training_mode=true); export the model in eval mode", path: path)
                }
                constantNodes += mode.nodes
            }
        } else if let ratio = node.floatAttribute("ratio") {
            rate = Double(ratio.description) ?? Double(ratio)
        }
        return addActivation(index, .dropout, JSONObject([("rate", .double(rate))]), nodes: constantNodes)
    }

    /// `Flatten`, `Reshape` and `Cast` that leave a `[batch, features]` value as it is: skipped, with a note.
    func mapNoOp(_ index: Int) throws(ONNXError) -> String {
        let node = graph.nodes[index]
        let label = graph.describe(index)
        var extra: [Int] = []
        switch node.opType {
        case "Flatten":
            let axis = node.intAttribute("axis") ?? 1
            guard axis == 1 || axis == -1 else {
                throw ONNXError(.unsupported, "\(label) with axis=\(axis) changes a [batch, features] value; "
                                + "only axis 1 (a no-op on 2-D) maps", path: path)
            }
            notes.append("skipped \(label): a no-op on [batch, features]")
        case "Reshape":
            let shapeValue = node.input.count > 1 ? node.input[1] : ""
            guard let shape = try constants.resolve(shapeValue), shape.tensor.dtype == .int64,
                  shape.tensor.shape.rank == 1, shape.tensor.elementCount == 2 else {
                throw ONNXError(.unsupported, "\(label): its target shape is not a constant [2] int64 "
                                + "tensor; only a no-op reshape of [batch, features] maps", path: path)
            }
            let target = (0..<2).map { shape.tensor.integerElement(at: $0) ?? -2 }
            let allowZero = (node.intAttribute("allowzero") ?? 0) != 0
            // [batch, features] → [a, b] keeps both when a copies (0) or infers (-1) the batch and b copies (0),
            // infers (-1, with a not inferring too) or restates the feature count.
            let batchKept = target[0] == -1 || (target[0] == 0 && !allowZero)
            let featuresKept = (target[1] == 0 && !allowZero) || (target[1] == -1 && target[0] != -1)
                || (target[1] > 0 && (features == nil || target[1] == Int64(features ?? 0)))
            if features == nil, target[1] > 0 { features = Int(exactly: target[1]) }
            guard batchKept, featuresKept else {
                throw ONNXError(.unsupported, "\(label) to [\(target[0]), \(target[1])] changes a "
                                + "[batch, \(features.map(String.init) ?? "features")] value; only a no-op reshape "
                                + "maps", path: path)
            }
            extra = shape.nodes
            notes.append("skipped \(label) to [\(target[0]), \(target[1])]: a no-op on [batch, features]")
        default:  // Cast
            let target = node.intAttribute("to").flatMap { Int32(exactly: $0) } ?? 0
            guard let dtype = ONNXDataType.dtype(target), dtype.isFloatingPoint else {
                throw ONNXError(.unsupported, "\(label) converts the running value to "
                                + "\(ONNXDataType.name(target)); only casts between float types map", path: path)
            }
            notes.append("skipped \(label) to \(dtype.rawValue)"
                         + (dtype == .float32 ? "" : "; ModelKit computes in float32"))
        }
        used.insert(index)
        used.formUnion(extra)
        return node.output[0]
    }

    /// The largest element-wise block tried before giving up (the tanh GELU takes 9 nodes).
    static let maximumBlockNodes = 24

    /// Grows a block of element-wise nodes from the running value until it is closed (one value leaves it) and
    /// computes a known activation; see ``ONNXElementwise``.
    func mapElementwiseBlock(from value: String, readers: [Int]) throws(ONNXError) -> String {
        var members: [Int] = []
        var steps: [ONNXElementwise.Step] = []
        var stepOf: [String: Int] = [:]
        var constantNodes: [Int] = []
        let start = readers.min() ?? 0
        while members.count < Self.maximumBlockNodes {
            guard let (next, step, constantsUsed) = try nextBlockNode(after: start, value: value, members: members,
                                                                      stepOf: stepOf) else { break }
            members.append(next)
            stepOf[graph.nodes[next].output[0]] = steps.count
            steps.append(step)
            constantNodes += constantsUsed
            guard let result = closedResult(value: value, members: members, stepOf: stepOf),
                  let candidate = ONNXElementwise.identify(steps, result: result.step) else { continue }
            let last = graph.nodes[result.node]
            used.formUnion(members)
            used.formUnion(constantNodes)
            model.layers.append(Layer(name: layerName(for: last, kind: candidate.kind), kind: candidate.kind,
                                      attributes: candidate.attributes))
            notes.append("recognised \(candidate.kind.rawValue)"
                         + (candidate.attributes["approximate"]?.stringValue.map { " (approximate \($0))" } ?? "")
                         + " in the \(members.count) nodes \(MessageText.list(members.map(graph.describe), limit: 3))")
            return result.value
        }
        let descriptions = MessageText.list(readers.map(graph.describe))
        if readers.contains(where: { !ONNXElementwise.ops.contains(graph.nodes[$0].opType) }) {
            throw ONNXError(.unsupported, "the graph is not a chain: value \(MessageText.quoted(value)) feeds "
                            + "\(readers.count) nodes (\(descriptions)); ModelKit maps a single chain of layers",
                            path: path)
        }
        let tried = members.isEmpty ? descriptions : MessageText.list(members.map(graph.describe), limit: 5)
        throw ONNXError(.unsupported, "the element-wise nodes after value \(MessageText.quoted(value)) (\(tried)) do "
                        + "not compute an activation ModelKit knows (GELU exact or tanh, SiLU), or do not form a "
                        + "chain", path: path)
    }

    /// The first node (in graph order) that can join the block: an element-wise op of the default domain whose
    /// inputs are the block's input, block results, or scalar constants, and at least one of them not a constant.
    private func nextBlockNode(after start: Int, value: String, members: [Int], stepOf: [String: Int])
        throws(ONNXError) -> (Int, ONNXElementwise.Step, [Int])? {
        for index in start..<graph.nodes.count where needed.contains(index) && !used.contains(index) && !members.contains(index) {
            let node = graph.nodes[index]
            guard node.isDefaultDomain, ONNXElementwise.ops.contains(node.opType), node.output.count == 1,
                  !node.output[0].isEmpty, !node.input.isEmpty else { continue }
            var operands: [ONNXElementwise.Operand] = []
            var constantsUsed: [Int] = []
            var readsBlock = false
            var fits = true
            for input in node.input {
                if input == value {
                    operands.append(.input)
                    readsBlock = true
                } else if let step = stepOf[input] {
                    operands.append(.step(step))
                    readsBlock = true
                } else if let constant = try constants.resolve(input), let scalar = constant.scalar {
                    operands.append(.constant(scalar))
                    constantsUsed += constant.nodes
                } else {
                    fits = false
                    break
                }
            }
            if fits && readsBlock { return (index, ONNXElementwise.Step(op: node.opType, operands: operands), constantsUsed) }
        }
        return nil
    }

    /// When every reader of the block's input and of its inner results is in the block and exactly one result
    /// leaves it (read outside, or the graph output): that result.
    private func closedResult(value: String, members: [Int],
                              stepOf: [String: Int]) -> (value: String, step: Int, node: Int)? {
        let inside = Set(members)
        guard unusedReaders(of: value).allSatisfy(inside.contains) else { return nil }
        var leaving: [(String, Int, Int)] = []
        for member in members {
            let result = graph.nodes[member].output[0]
            let outsideReaders = unusedReaders(of: result).filter { !inside.contains($0) }
            let isOutput = result == outputValue
            if !outsideReaders.isEmpty || isOutput, let step = stepOf[result] { leaving.append((result, step, member)) }
        }
        guard leaving.count == 1, let only = leaving.first else { return nil }
        return (only.0, only.1, only.2)
    }
}
