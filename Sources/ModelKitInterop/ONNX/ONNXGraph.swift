import ModelKitCore

/// An ONNX graph indexed for walking: who produces each value, who consumes it, which values are constant.
///
/// Values are named strings (ONNX's static single assignment form): each is produced by one node output, one
/// initializer or one graph input. The index refuses a graph where two nodes produce the same value.
struct ONNXGraph {
    let path: String
    let graph: Onnx_GraphProto
    var nodes: [Onnx_NodeProto] { graph.node }
    /// Value name → index of the node producing it.
    let producer: [String: Int]
    /// Value name → indices of the nodes reading it, in graph order.
    let consumers: [String: [Int]]
    /// Initializer name → index in `graph.initializer`.
    let initializers: [String: Int]
    /// Graph inputs that are not initializers (older IR versions list initializers as inputs too).
    let inputs: [Onnx_ValueInfoProto]

    init(_ graph: Onnx_GraphProto, path: String) throws(ONNXError) {
        self.path = path
        self.graph = graph
        var initializers: [String: Int] = [:]
        for (index, tensor) in graph.initializer.enumerated() { initializers[tensor.name] = index }
        var producer: [String: Int] = [:]
        var consumers: [String: [Int]] = [:]
        for (index, node) in graph.node.enumerated() {
            for output in node.output where !output.isEmpty {
                if let other = producer[output] {
                    throw ONNXError(.corrupt, "value \(MessageText.quoted(output)) is produced by two nodes, "
                                    + "\(ONNXText.node(graph.node[other], index: other)) and "
                                    + "\(ONNXText.node(node, index: index)); the graph is invalid", path: path)
                }
                producer[output] = index
            }
            for input in node.input where !input.isEmpty { consumers[input, default: []].append(index) }
        }
        self.producer = producer
        self.consumers = consumers
        self.initializers = initializers
        self.inputs = graph.input.filter { initializers[$0.name] == nil }
    }

    /// A node described for messages.
    func describe(_ index: Int) -> String { ONNXText.node(nodes[index], index: index) }

    /// The nodes the value `output` depends on, in graph order: everything else (other outputs' branches,
    /// ops of other domains that only feed them) is left out.
    func nodesNeeded(for output: String) throws(ONNXError) -> [Int] {
        var needed = Set<Int>()
        var stack = [output]
        var seen = Set<String>()
        while let value = stack.popLast() {
            guard seen.insert(value).inserted else { continue }
            if let index = producer[value] {
                guard needed.insert(index).inserted else { continue }
                for input in nodes[index].input where !input.isEmpty { stack.append(input) }
            } else if initializers[value] == nil, !graph.input.contains(where: { $0.name == value }) {
                let user = consumers[value]?.first.map { " (read by \(describe($0)))" } ?? ""
                throw ONNXError(.corrupt, "value \(MessageText.quoted(value))\(user) is produced by no node, initializer "
                                + "or graph input; the graph is invalid", path: path)
            }
        }
        return needed.sorted()
    }

    /// The graph input called `name`, if it is one (and not an initializer).
    func input(named name: String) -> Onnx_ValueInfoProto? { inputs.first { $0.name == name } }
}

/// An attribute lookup on a node, with the ONNX defaults applied by the caller.
extension Onnx_NodeProto {
    func attribute(_ name: String) -> Onnx_AttributeProto? { attribute.first { $0.name == name } }

    func intAttribute(_ name: String) -> Int64? {
        guard let value = attribute(name) else { return nil }
        // A writer may leave out a zero value of a typed attribute (proto2 default).
        return value.hasI || value.type == .int ? value.i : nil
    }

    func floatAttribute(_ name: String) -> Float? {
        guard let value = attribute(name) else { return nil }
        return value.hasF || value.type == .float ? value.f : nil
    }

    func stringAttribute(_ name: String) -> String? {
        guard let value = attribute(name), value.hasS || value.type == .string else { return nil }
        return String(decoding: value.s, as: UTF8.self)
    }

    func intsAttribute(_ name: String) -> [Int64]? { attribute(name)?.ints }

    /// True for the default operator set (`""` or `ai.onnx`).
    var isDefaultDomain: Bool { domain.isEmpty || domain == "ai.onnx" }
}
