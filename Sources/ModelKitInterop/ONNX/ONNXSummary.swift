import ModelKitCore

/// What an ONNX file holds, for `inspect`: read from any ONNX model, whether or not it maps to ModelKit layers.
///
/// Nothing here decodes tensor data; initializers are described from their dims and type.
///
/// ```swift
/// let summary = try ONNXFormat.summary(path: "model.onnx")
/// summary.opsetImports        // [ai.onnx 17]
/// summary.inputs[0].shapeText // "[batch, 400]"
/// summary.nodes.map(\.opType) // ["Gemm", "Relu", ...]
/// ```
public struct ONNXSummary: Sendable {
    /// An operator set the model imports.
    public struct OperatorSet: Sendable, Equatable, CustomStringConvertible {
        /// `ai.onnx` for the default domain.
        public var domain: String
        /// The operator set version, e.g. 17.
        public var version: Int64
        /// `ai.onnx 17`.
        public var description: String { "\(domain) \(version)" }
    }

    /// One dimension of a declared shape.
    public enum Dimension: Sendable, Equatable, CustomStringConvertible {
        /// A size stated in the file.
        case fixed(Int64)
        /// A named dynamic dimension such as `batch`.
        case symbolic(String)
        /// Neither a value nor a name.
        case unknown

        /// The size, the name, or `?`.
        public var description: String {
            switch self {
            case .fixed(let value): String(value)
            case .symbolic(let name): name
            case .unknown: "?"
            }
        }
    }

    /// A graph input or output.
    public struct Value: Sendable, Equatable {
        /// The value's name in the graph.
        public var name: String
        /// `float32`, `int64`, …, or `sequence`/`map`/`unknown` when not a tensor.
        public var elementType: String
        /// `nil` when the file declares no shape.
        public var dimensions: [Dimension]?

        /// `[batch, 400]`, or `?` without a shape.
        public var shapeText: String {
            dimensions.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "?"
        }
    }

    /// One node of the graph.
    public struct Node: Sendable, Equatable {
        /// The node's name (may be empty: ONNX does not require one).
        public var name: String
        /// The operator, e.g. `Gemm`.
        public var opType: String
        /// Empty for the default domain.
        public var domain: String
        /// Value names read, in order; an empty name is an omitted optional input.
        public var inputs: [String]
        /// Value names written, in order.
        public var outputs: [String]
        /// Attribute name and its value as short text (`transB=1`, `alpha=0.1`, `perm=[1, 0]`).
        public var attributes: [(name: String, value: String)]

        /// Equal when every field, attributes included in order, is equal.
        public static func == (lhs: Node, rhs: Node) -> Bool {
            lhs.name == rhs.name && lhs.opType == rhs.opType && lhs.domain == rhs.domain && lhs.inputs == rhs.inputs
                && lhs.outputs == rhs.outputs && lhs.attributes.map(\.name) == rhs.attributes.map(\.name)
                && lhs.attributes.map(\.value) == rhs.attributes.map(\.value)
        }
    }

    /// A constant tensor stored in the graph.
    public struct Initializer: Sendable, Equatable {
        /// The initializer's (value) name.
        public var name: String
        /// ONNX's type name (`float32`, `float16`, `bfloat16`, `int64`, `float8e4m3fn`, …).
        public var dataType: String
        /// The ModelKit dtype, when ModelKit reads this type.
        public var dtype: DType?
        /// The dims as stored (not validated).
        public var dimensions: [Int64]
        /// dims × element size, when both are known and fit.
        public var byteCount: Int?
        /// For data stored outside the `.onnx` file: the file it names.
        public var externalLocation: String?
    }

    /// The `.onnx` file's size in bytes (external data not included).
    public var fileSize: Int
    /// `ir_version`: the version of the file format (8 = onnx 1.12 … 10 = onnx 1.16, …).
    public var irVersion: Int64
    /// The operator sets the model imports, in file order.
    public var opsetImports: [OperatorSet]
    /// The program that wrote the file, e.g. `pytorch`.
    public var producerName: String
    /// Its version, e.g. `2.15.0`.
    public var producerVersion: String
    /// The model's reverse-DNS domain, usually empty.
    public var domain: String
    /// The model's own version number, usually 0.
    public var modelVersion: Int64
    /// The model's documentation string.
    public var docString: String
    /// The graph's name (`main_graph` for torch's exports).
    public var graphName: String
    /// Graph inputs that are not initializers.
    public var inputs: [Value]
    /// Graph outputs, in order.
    public var outputs: [Value]
    /// Every node of the main graph, in file (topological) order.
    public var nodes: [Node]
    /// Every initializer, in file order.
    public var initializers: [Initializer]
    /// `metadata_props`, in file order.
    public var metadata: [(key: String, value: String)]
    /// Names of model-local functions (ops the file defines itself).
    public var localFunctions: [String]

    /// Node count per op type, most frequent first (ties by name).
    public var opCounts: [(opType: String, count: Int)] {
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.domain.isEmpty ? node.opType : node.domain + "::" + node.opType, default: 0] += 1 }
        return counts.map { ($0.key, $0.value) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }

    /// The sum of the initializers' byte counts that are known.
    public var initializerBytes: Int {
        initializers.reduce(0) { total, entry in
            let (sum, overflow) = total.addingReportingOverflow(entry.byteCount ?? 0)
            return overflow ? total : sum
        }
    }
}

extension ONNXSummary {
    /// Builds the summary of a decoded file.
    init(_ file: ONNXFile) {
        let proto = file.proto
        let graph = proto.graph
        let initializerNames = Set(graph.initializer.map(\.name))
        fileSize = file.fileSize
        irVersion = proto.irVersion
        opsetImports = proto.opsetImport.map {
            OperatorSet(domain: $0.domain.isEmpty ? "ai.onnx" : $0.domain, version: $0.version)
        }
        producerName = proto.producerName
        producerVersion = proto.producerVersion
        domain = proto.domain
        modelVersion = proto.modelVersion
        docString = proto.docString
        graphName = graph.name
        inputs = graph.input.filter { !initializerNames.contains($0.name) }.map(Self.value)
        outputs = graph.output.map(Self.value)
        nodes = graph.node.map { node in
            Node(name: node.name, opType: node.opType, domain: node.isDefaultDomain ? "" : node.domain,
                 inputs: node.input, outputs: node.output,
                 attributes: node.attribute.map { ($0.name, Self.attributeText($0)) })
        }
        initializers = graph.initializer.map { tensor in
            let described = ONNXTensorDecoder.describe(tensor)
            let location = tensor.dataLocation == .external
                ? tensor.externalData.first { $0.key == "location" }?.value ?? "" : nil
            return Initializer(name: tensor.name, dataType: ONNXDataType.name(tensor.dataType), dtype: described.dtype,
                               dimensions: described.dims, byteCount: described.byteCount, externalLocation: location)
        }
        metadata = proto.metadataProps.map { ($0.key, $0.value) }
        localFunctions = proto.functions.map { $0.domain.isEmpty ? $0.name : $0.domain + "::" + $0.name }
    }

    private static func value(_ info: Onnx_ValueInfoProto) -> Value {
        guard info.hasType else { return Value(name: info.name, elementType: "unknown", dimensions: nil) }
        guard case .tensorType(let tensor)? = info.type.value else {
            return Value(name: info.name, elementType: "not a tensor", dimensions: nil)
        }
        let elementType = tensor.hasElemType ? ONNXDataType.name(tensor.elemType) : "unknown"
        guard tensor.hasShape else { return Value(name: info.name, elementType: elementType, dimensions: nil) }
        let dims = tensor.shape.dim.map { dim -> Dimension in
            switch dim.value {
            case .dimValue(let value)?: .fixed(value)
            case .dimParam(let name)?: .symbolic(name)
            case nil: .unknown
            }
        }
        return Value(name: info.name, elementType: elementType, dimensions: dims)
    }

    /// An attribute's value as short text; long lists are shortened.
    static func attributeText(_ attribute: Onnx_AttributeProto) -> String {
        func list<T>(_ values: [T], _ render: (T) -> String) -> String {
            let shown = values.prefix(16).map(render).joined(separator: ", ")
            return "[" + shown + (values.count > 16 ? ", … (\(values.count) values)" : "") + "]"
        }
        func text(_ bytes: [UInt8]) -> String {
            let string = String(decoding: bytes, as: UTF8.self)
            return string.count > 64 ? String(string.prefix(64)) + "…" : string
        }
        switch attribute.type {
        case .float: return attribute.f.description
        case .int: return String(attribute.i)
        case .string: return text(Array(attribute.s))
        case .floats: return list(attribute.floats) { $0.description }
        case .ints: return list(attribute.ints) { String($0) }
        case .strings: return list(attribute.strings) { text(Array($0)) }
        case .tensor:
            let described = ONNXTensorDecoder.describe(attribute.t)
            return "tensor \(ONNXDataType.name(attribute.t.dataType)) [" + described.dims.map(String.init).joined(separator: ", ") + "]"
        case .graph: return "graph \(MessageText.quoted(attribute.g.name)) (\(attribute.g.node.count) nodes)"
        case .graphs: return "\(attribute.graphs.count) graphs"
        case .tensors: return "\(attribute.tensors.count) tensors"
        default:
            // Untyped (old files) or a kind we do not declare: show what is set.
            if attribute.hasF { return attribute.f.description }
            if attribute.hasI { return String(attribute.i) }
            if attribute.hasS { return text(Array(attribute.s)) }
            if !attribute.ints.isEmpty { return list(attribute.ints) { String($0) } }
            if !attribute.floats.isEmpty { return list(attribute.floats) { $0.description } }
            return "(\(attribute.type))"
        }
    }
}
