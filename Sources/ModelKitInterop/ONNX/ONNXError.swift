import ModelKitCore
import ModelKitFormat

/// Why an ONNX file could not be read, mapped to layers, or written. The description is one line a user can act on.
///
/// ``Kind`` separates "not ONNX at all" from "ONNX but damaged" from "valid ONNX that is not a dense chain", because
/// the fixes differ (pick another reader, export again, or use `inspect` / a weight-only conversion instead).
///
/// ```swift
/// do { _ = try ONNXFormat.read(path: "resnet.onnx") } catch let error as ONNXError {
///     print(error) // resnet.onnx: unsupported ONNX ops on the path to output 'logits': '/conv1/Conv' (Conv), ...
/// }
/// ```
public struct ONNXError: Error, Sendable, CustomStringConvertible {
    /// The class of problem.
    public enum Kind: String, Sendable {
        /// The bytes are not an ONNX model (not protobuf, or a protobuf without a graph).
        case notONNX = "not ONNX"
        /// The protobuf ends early.
        case truncated
        /// The model is ONNX but inconsistent: a tensor's data does not match its dims, a name is missing, ...
        case corrupt
        /// A tensor stored outside the `.onnx` file could not be used (unsafe path, missing file, bad range).
        case externalData = "external data"
        /// Valid ONNX that ModelKit cannot map to layers: an op it does not know, or a graph that is not a chain.
        case unsupported
        /// The request cannot be done (an output name the graph lacks, a model the writer cannot express).
        case invalidRequest = "invalid request"
        /// The file system refused.
        case io
    }

    /// The class of problem.
    public var kind: Kind
    /// The file concerned.
    public var path: String
    /// What is wrong, with the names and numbers involved, and how to fix it.
    public var message: String

    /// Makes an error about `path`.
    public init(_ kind: Kind, _ message: String, path: String) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    /// Wraps a file-system error.
    public init(_ error: FileAccessError) {
        self.init(.io, "cannot \(error.operation): \(error.reason)", path: error.path)
    }

    /// `path: message`, one line.
    public var description: String { "\(path): \(message)" }
}

/// How ONNX nodes are named in error messages.
enum ONNXText {
    /// A node for messages: `'name' (OpType)`, or `#index (OpType)` when the node has no name.
    static func node(_ node: Onnx_NodeProto, index: Int) -> String {
        let op = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : node.domain + "::" + node.opType
        let label = node.name.isEmpty ? "node #\(index)" : MessageText.quoted(node.name)
        return "\(label) (\(MessageText.escaped(op, limit: 60)))"
    }
}
