import ModelKitCore

/// Maps an ONNX graph onto a ModelKit ``Model``: a single chain of dense layers and activations.
///
/// The walk starts at the graph input and follows the running value to the chosen output. At each step the node(s)
/// reading the running value must form one layer: a `Gemm`, a `MatMul` (with the `Add` of its bias), a known
/// activation op, an element-wise block computing a known activation, or a no-op (`Flatten`/`Reshape` on 2-D,
/// float `Cast`). Only the nodes the chosen output needs are considered, so other outputs' branches (and ops of
/// other domains feeding only them) do not matter. Anything else is an error naming the nodes.
final class ONNXChainMapper {
    let file: ONNXFile
    let graph: ONNXGraph
    let constants: ONNXConstantResolver
    var path: String { file.path }

    /// Nodes the chosen output depends on.
    private(set) var needed = Set<Int>()
    /// Nodes already turned into layers (or consumed as their constants).
    var used = Set<Int>()
    var model: Model
    var notes: [String] = []
    /// The graph output being mapped.
    private(set) var outputValue = ""
    /// The feature count of the running value, when known.
    var features: Int?
    /// For an input of more than two dimensions: its static batch (if any) and per-sample dimensions, which a
    /// leading `Flatten` or `Reshape` must turn into `[batch, features]` (ONNXChainMapper+Flatten.swift).
    var unflattenedInput: (batch: Int?, sample: [Int])?
    private var layerNames = Set<String>()

    /// The ops the walk understands (besides ``ONNXElementwise/ops``).
    static let layerOps: Set<String> = ["Gemm", "MatMul", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Softmax",
                                        "LogSoftmax", "Identity", "Dropout", "Flatten", "Reshape", "Cast",
                                        "Transpose", "Constant"]

    init(file: ONNXFile) throws(ONNXError) {
        self.file = file
        self.graph = try ONNXGraph(file.graph, path: file.path)
        self.constants = ONNXConstantResolver(graph: graph, decoder: ONNXTensorDecoder(path: file.path))
        self.model = Model(info: ModelInfo(name: "", producer: "", sourceFormat: "onnx", inputShape: []))
    }

    /// Walks the graph from its input to `requestedOutput` (default: the first floating-point output).
    func map(outputName requestedOutput: String?) throws(ONNXError) -> (model: Model, notes: [String]) {
        let output = try chooseOutput(requestedOutput)
        outputValue = output
        let order = try graph.nodesNeeded(for: output)
        needed = Set(order)
        try checkOpsAreKnown(order, output: output)
        let input = try chooseInput(order, output: output)
        let (inputDType, inputFeatures) = try describeInput(input)
        features = inputFeatures

        var value = input.name
        if unflattenedInput != nil { value = try mapLeadingFlatten(of: input) }
        while value != output {
            let readers = unusedReaders(of: value)
            guard !readers.isEmpty else {
                throw ONNXError(.unsupported, "the graph is not a chain: value \(MessageText.quoted(value)) reaches no "
                                + "further node on the way to output \(MessageText.quoted(output))", path: path)
            }
            if readers.count == 1, let next = try mapSingle(readers[0], reading: value) {
                value = next
            } else {
                value = try mapElementwiseBlock(from: value, readers: readers)
            }
        }
        let leftover = needed.subtracting(used).sorted()
        guard leftover.isEmpty else {
            throw ONNXError(.unsupported, "the graph is not a chain: \(MessageText.list(leftover.map(graph.describe))) "
                            + "feed output \(MessageText.quoted(output)) from outside the single path from input "
                            + "\(MessageText.quoted(input.name)); ModelKit maps chains of dense layers and activations "
                            + "only (use inspect, or convert the weights alone)", path: path)
        }
        guard !model.layers.isEmpty else {
            throw ONNXError(.unsupported, "output \(MessageText.quoted(output)) is the input passed through no layer; "
                            + "there is nothing to map", path: path)
        }
        let firstIn = model.layers.first { $0.kind == .dense }.flatMap(denseInputFeatures)
        model.info = ModelInfo(name: modelName(), producer: producer(), sourceFormat: "onnx",
                               inputShape: [nil, inputFeatures ?? flattenedFeatures ?? firstIn], inputDType: inputDType,
                               metadata: metadata())
        return (model, notes)
    }

    // MARK: Inputs and outputs

    private func chooseOutput(_ requested: String?) throws(ONNXError) -> String {
        let outputs = graph.graph.output
        let names = outputs.map { MessageText.quoted($0.name) }
        if let requested {
            guard outputs.contains(where: { $0.name == requested }) else {
                throw ONNXError(.invalidRequest, "the graph has no output \(MessageText.quoted(requested)); its outputs "
                                + "are \(MessageText.list(names))", path: path)
            }
            return requested
        }
        let floating = outputs.first { output in
            guard output.type.tensorType.hasElemType else { return true }  // untyped: take it and see
            return ONNXDataType.dtype(output.type.tensorType.elemType)?.isFloatingPoint ?? false
        }
        guard let chosen = floating else {
            throw ONNXError(.unsupported, outputs.isEmpty ? "the graph declares no output"
                            : "the graph has no floating-point output (outputs: \(MessageText.list(names)))", path: path)
        }
        if outputs.count > 1 {
            notes.append("the graph has \(outputs.count) outputs; mapped \(MessageText.quoted(chosen.name)) (choose "
                         + "another with the output name option)")
        }
        return chosen.name
    }

    private func chooseInput(_ order: [Int], output: String) throws(ONNXError) -> Onnx_ValueInfoProto {
        var used: [Onnx_ValueInfoProto] = []
        for input in graph.inputs where order.contains(where: { graph.nodes[$0].input.contains(input.name) }) {
            used.append(input)
        }
        if let direct = graph.input(named: output), !used.contains(where: { $0.name == output }) { used.append(direct) }
        guard used.count == 1, let input = used.first else {
            let names = used.map { MessageText.quoted($0.name) }
            throw ONNXError(.unsupported, used.isEmpty
                            ? "output \(MessageText.quoted(output)) does not depend on any graph input (it is a constant)"
                            : "output \(MessageText.quoted(output)) depends on \(used.count) graph inputs "
                            + "(\(MessageText.list(names))); ModelKit maps single-input chains only", path: path)
        }
        return input
    }

    /// The input's dtype and feature count (`nil` when the file does not say).
    private func describeInput(_ input: Onnx_ValueInfoProto) throws(ONNXError) -> (DType, Int?) {
        let name = MessageText.quoted(input.name)
        guard input.hasType, case .tensorType? = input.type.value else {
            if input.hasType {
                throw ONNXError(.unsupported, "input \(name) is not a tensor (a sequence, map or optional)", path: path)
            }
            return (.float32, nil)
        }
        let tensorType = input.type.tensorType
        var dtype = DType.float32
        if tensorType.hasElemType {
            guard let declared = ONNXDataType.dtype(tensorType.elemType), declared.isFloatingPoint else {
                throw ONNXError(.unsupported, "input \(name) is \(ONNXDataType.name(tensorType.elemType)); ModelKit "
                                + "maps models whose input is floating-point features", path: path)
            }
            dtype = declared
        }
        guard tensorType.hasShape else { return (dtype, nil) }
        let dims = tensorType.shape.dim
        if dims.count > 2 {
            let sample = dims.dropFirst().map { dim -> Int? in
                if case .dimValue(let count)? = dim.value, count > 0 { return Int(exactly: count) }
                return nil
            }
            var batch: Int?
            if case .dimValue(let count)? = dims[0].value, count > 0 { batch = Int(exactly: count) }
            guard sample.allSatisfy({ $0 != nil }) else {
                throw ONNXError(.unsupported, "input \(name) has \(dims.count) dimensions \(Self.describe(dims)) and "
                                + "not all of them after the batch are fixed; ModelKit maps [batch, features] inputs, "
                                + "or inputs a leading Flatten turns into that", path: path)
            }
            unflattenedInput = (batch, sample.compactMap { $0 })
            return (dtype, nil)
        }
        guard dims.count == 2 else {
            throw ONNXError(.unsupported, "input \(name) has \(dims.count) dimensions "
                            + "\(Self.describe(dims)); ModelKit maps [batch, features] inputs only", path: path)
        }
        if case .dimValue(let batch)? = dims[0].value, batch != 0 {
            notes.append("input \(name) fixes the batch size at \(batch); ModelKit treats the batch as dynamic")
        }
        if case .dimValue(let count)? = dims[1].value, count > 0, let value = Int(exactly: count) {
            return (dtype, value)
        }
        return (dtype, nil)
    }

    /// `[batch, 400]` for a value's declared dims.
    static func describe(_ dims: [Onnx_TensorShapeProto.Dimension]) -> String {
        "[" + dims.map { dim -> String in
            switch dim.value {
            case .dimValue(let value)?: String(value)
            case .dimParam(let param)?: param
            case nil: "?"
            }
        }.joined(separator: ", ") + "]"
    }

    private func checkOpsAreKnown(_ order: [Int], output: String) throws(ONNXError) {
        let unknown = order.filter { index in
            let node = graph.nodes[index]
            return !node.isDefaultDomain || !(Self.layerOps.contains(node.opType) || ONNXElementwise.ops.contains(node.opType))
        }
        guard unknown.isEmpty else {
            let ops = Set(unknown.map { graph.nodes[$0].opType }).sorted()
            throw ONNXError(.unsupported, "\(unknown.count) node(s) on the path to output \(MessageText.quoted(output)) "
                            + "use ops ModelKit cannot map to layers (\(MessageText.list(ops.map { MessageText.quoted($0) }))): "
                            + "\(MessageText.list(unknown.map(graph.describe))); inspect shows the graph, and its weights "
                            + "can still be converted to a weight-only format", path: path)
        }
    }

    // MARK: Walking

    /// The nodes on the output's path that read `value` and are not mapped yet.
    func unusedReaders(of value: String) -> [Int] {
        (graph.consumers[value] ?? []).filter { needed.contains($0) && !used.contains($0) }.reduce(into: []) { list, index in
            if !list.contains(index) { list.append(index) }
        }
    }

    /// Maps a node that is a layer on its own (or a no-op); `nil` when it starts an element-wise block instead.
    private func mapSingle(_ index: Int, reading value: String) throws(ONNXError) -> String? {
        let node = graph.nodes[index]
        if ONNXElementwise.ops.contains(node.opType), !["Sigmoid", "Tanh"].contains(node.opType) { return nil }
        guard node.input.first == value, let output = node.output.first, !output.isEmpty else {
            throw ONNXError(.unsupported, "\(graph.describe(index)) reads the running value "
                            + "\(MessageText.quoted(value)) in another position than its first input; the graph is not "
                            + "a chain of dense layers", path: path)
        }
        switch node.opType {
        case "Gemm": return try mapGemm(index)
        case "MatMul": return try mapMatMul(index)
        case "Relu": return addActivation(index, .relu)
        case "Sigmoid": return addActivation(index, .sigmoid)
        case "Tanh": return addActivation(index, .tanh)
        case "Identity": return addActivation(index, .identity)
        case "LeakyRelu":
            let alpha = node.floatAttribute("alpha") ?? 0.01
            return addActivation(index, .leakyRelu, JSONObject([("alpha", Self.shortest(alpha))]))
        case "Gelu": return try mapGelu(index)
        case "Softmax", "LogSoftmax": return try mapSoftmax(index)
        case "Dropout": return try mapDropout(index)
        case "Flatten", "Reshape", "Cast": return try mapNoOp(index)
        default:
            throw ONNXError(.unsupported, "\(graph.describe(index)) applies \(MessageText.quoted(node.opType)) to the "
                            + "running value \(MessageText.quoted(value)); ModelKit only folds it into constant weights",
                            path: path)
        }
    }

    /// Adds a layer without parameters made from node `index`.
    func addActivation(_ index: Int, _ kind: LayerKind, _ attributes: JSONObject = JSONObject(),
                       nodes extra: [Int] = []) -> String {
        let node = graph.nodes[index]
        used.insert(index)
        used.formUnion(extra)
        model.layers.append(Layer(name: layerName(for: node, kind: kind), kind: kind, attributes: attributes))
        return node.output[0]
    }

    /// A unique layer name: the node's name, or `<kind>_<n>` when it has none.
    func layerName(for node: Onnx_NodeProto, kind: LayerKind) -> String {
        let base = node.name.isEmpty ? "\(kind.rawValue)_\(model.layers.count + 1)" : node.name
        return unique(base, in: layerNames, reserve: true)
    }

    /// `base`, or `base_2`, `base_3`, … when taken.
    func unique(_ base: String, in taken: Set<String>, reserve: Bool) -> String {
        var name = base
        var counter = 2
        while taken.contains(name) {
            name = "\(base)_\(counter)"
            counter += 1
        }
        if reserve { layerNames.insert(name) }
        return name
    }

    /// A float attribute as the shortest decimal of its float32 value (`0.1`, not `0.10000000149011612`).
    static func shortest(_ value: Float) -> JSONValue {
        .double(Double(value.description) ?? Double(value))
    }

    // MARK: Model facts

    private func modelName() -> String {
        let name = graph.graph.name
        // Exporters' default graph names say nothing about the model; the file's name does.
        if !name.isEmpty, !["main_graph", "torch_jit", "torch-jit-export", "tf2onnx"].contains(name) { return name }
        var stem = path.split(separator: "/").last.map(String.init) ?? path
        if stem.lowercased().hasSuffix(".onnx") { stem.removeLast(5) }
        return stem
    }

    private func producer() -> String {
        let proto = file.proto
        let text = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        return text.isEmpty ? "unknown ONNX producer" : text
    }

    private func metadata() -> [String: String] {
        var metadata: [String: String] = [:]
        for entry in file.proto.metadataProps { metadata[entry.key] = entry.value }
        return metadata
    }

    func denseInputFeatures(_ layer: Layer) -> Int? {
        guard let weight = model.parameter("weight", of: layer), weight.tensor.shape.rank == 2,
              let layout = weight.layout else { return nil }
        let dims = weight.tensor.shape.dimensions
        return layout.features(rows: dims[0], columns: dims[1]).input
    }
}
