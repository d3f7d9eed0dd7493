import ModelKitCore

/// A graph whose input has more than two dimensions (`[batch, 1, 28, 28]` images) and whose first node flattens
/// it, as `nn.Flatten()` in front of `nn.Linear` exports: TorchScript writes `Flatten(axis=1)`, the dynamo exporter
/// `Reshape(x, [batch, features])`. The flatten becomes part of the input: the model takes `[batch, features]`,
/// and `run` and ``InferenceSession/predict(_:)`` flatten larger inputs row-major, which is what the node does.
extension ONNXChainMapper {
    /// The feature count after the leading flatten, once it is mapped.
    var flattenedFeatures: Int? { unflattenedInput.map { $0.sample.reduce(1, *) } }

    /// Maps the node that must flatten `input` first; returns its output, the running value.
    func mapLeadingFlatten(of input: Onnx_ValueInfoProto) throws(ONNXError) -> String {
        guard let (batch, sample) = unflattenedInput else { return input.name }
        let declared = "input \(MessageText.quoted(input.name)) of shape [\(batch.map(String.init) ?? "batch"), "
            + sample.map(String.init).joined(separator: ", ") + "]"
        let flat = sample.reduce(1, *)
        let readers = unusedReaders(of: input.name)
        guard readers.count == 1, let index = readers.first, ["Flatten", "Reshape"].contains(graph.nodes[index].opType),
              graph.nodes[index].input.first == input.name, let output = graph.nodes[index].output.first, !output.isEmpty else {
            throw ONNXError(.unsupported, "\(declared) is read by \(MessageText.list(readers.map(graph.describe))); "
                            + "ModelKit maps [batch, features] inputs, or inputs that a first Flatten (or Reshape to "
                            + "[batch, \(flat)]) turns into that", path: path)
        }
        let node = graph.nodes[index]
        let label = graph.describe(index)
        if node.opType == "Flatten" {
            let axis = node.intAttribute("axis") ?? 1
            let rank = sample.count + 1
            guard axis == 1 || axis == 1 - rank else {  // a negative axis counts from the end
                throw ONNXError(.unsupported, "\(label) flattens \(declared) at axis \(axis); only axis 1 (keeping the "
                                + "batch) maps", path: path)
            }
        } else {
            let shapeValue = node.input.count > 1 ? node.input[1] : ""
            guard let shape = try constants.resolve(shapeValue), shape.tensor.dtype == .int64,
                  shape.tensor.shape.rank == 1, shape.tensor.elementCount == 2 else {
                throw ONNXError(.unsupported, "\(label) reshapes \(declared) to a shape that is not a constant "
                                + "[2] int64 tensor; only a flatten to [batch, \(flat)] maps", path: path)
            }
            let target = (0..<2).map { shape.tensor.integerElement(at: $0) ?? -2 }
            let allowZero = (node.intAttribute("allowzero") ?? 0) != 0
            let batchKept = target[0] == -1 || (target[0] == 0 && !allowZero) || (batch != nil && target[0] == Int64(batch ?? 0))
            let flattened = target[1] == Int64(flat) || (target[1] == -1 && target[0] != -1)
            guard batchKept, flattened else {
                throw ONNXError(.unsupported, "\(label) reshapes \(declared) to [\(target[0]), \(target[1])]; only a "
                                + "flatten to [batch, \(flat)] maps", path: path)
            }
            used.formUnion(shape.nodes)
        }
        used.insert(index)
        features = flat
        notes.append("\(declared) is flattened to [batch, \(flat)] by \(label); the model takes [batch, \(flat)] and "
                     + "flattens larger inputs the same way (row-major)")
        return output
    }
}
