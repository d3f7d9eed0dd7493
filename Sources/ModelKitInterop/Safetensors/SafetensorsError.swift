import ModelKitCore
import ModelKitFormat

/// Why a safetensors file (or a sharded checkpoint's index) could not be read or written.
///
/// Each case carries the file, and the tensor or shard when there is one; the description is one line that says
/// what is wrong, where, and what to do. ``kind`` sorts the cases the way ``ModelFileError/Kind`` does, so that the
/// command line can pick an exit code.
public enum SafetensorsError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case cannotOpen(FileAccessError)
    /// The bytes are some other kind of file; `detected` says what they look like.
    case notSafetensors(path: String, detected: String)
    /// The file ends inside `what`.
    case truncated(path: String, what: String, needed: Int, available: Int)
    /// The 8-byte header size is over the reference's 100 MB cap.
    case headerTooLarge(path: String, size: UInt64, limit: Int)
    /// The JSON header is not valid JSON, or not an object.
    case invalidHeader(path: String, reason: String)
    /// `__metadata__` is not a map of strings to strings.
    case invalidMetadata(path: String, reason: String)
    /// A tensor's entry lacks a field or has one of the wrong type.
    case invalidEntry(path: String, tensor: String, reason: String)
    /// A dtype ModelKit does not read (`known` is false for names the format does not define at all).
    case unsupportedDType(path: String, tensor: String, dtype: String, known: Bool)
    /// `end − begin` differs from what dtype × shape needs.
    case sizeMismatch(path: String, tensor: String, dtype: String, shape: String, expected: Int, actual: Int)
    /// dtype × shape overflows.
    case shapeOverflow(path: String, tensor: String, dtype: String, shape: String)
    /// The data offsets overlap, leave a gap, or do not start at 0.
    case invalidOffsets(path: String, tensor: String, reason: String)
    /// Bytes after the last tensor belong to no tensor.
    case trailingBytes(path: String, covered: Int, available: Int)
    /// A sharded checkpoint's `model.safetensors.index.json` is malformed.
    case invalidIndex(path: String, reason: String)
    /// A shard name in the index could leave the index's folder.
    case unsafeShardPath(path: String, shard: String, reason: String)
    /// The index and the shards disagree (a tensor in two shards, or missing from its shard).
    case shardMismatch(path: String, reason: String)
    /// The file holds only weights, and no architecture was given or stored.
    case missingArchitecture(path: String, suggestion: String?)
    /// The architecture stored in the file's metadata is invalid.
    case invalidArchitecture(path: String, ArchitectureError)
    /// The tensors do not fit the architecture.
    case binding(path: String, WeightBindingError)
    /// The model or tensors cannot be written as safetensors.
    case cannotWrite(path: String, reason: String)

    /// The class of problem, as ``ModelFileError`` names them.
    public var kind: ModelFileError.Kind {
        switch self {
        case .cannotOpen: .io
        case .notSafetensors: .notThisFormat
        case .truncated: .truncated
        case .unsupportedDType, .headerTooLarge: .unsupported
        case .missingArchitecture, .binding, .cannotWrite: .invalidRequest
        default: .corrupt
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let error):
            return error.description
        case .notSafetensors(let path, let detected):
            return "\(path): not a safetensors file: it looks like \(detected)"
        case .truncated(let path, let what, let needed, let available):
            return "\(path): truncated: the \(what) needs \(needed) bytes but only \(max(available, 0)) remain; "
                + "the file was cut short, download or copy it again"
        case .headerTooLarge(let path, let size, let limit):
            return "\(path): the header size field says \(size) bytes, more than the \(limit)-byte limit of the "
                + "safetensors format; the file is damaged or not safetensors"
        case .invalidHeader(let path, let reason):
            return "\(path): invalid safetensors header: \(reason)"
        case .invalidMetadata(let path, let reason):
            return "\(path): invalid __metadata__: \(reason); safetensors metadata maps strings to strings"
        case .invalidEntry(let path, let tensor, let reason):
            return "\(path): tensor \(MessageText.quoted(tensor)): \(reason)"
        case .unsupportedDType(let path, let tensor, let dtype, let known):
            return "\(path): tensor \(MessageText.quoted(tensor)) has \(known ? "unsupported" : "unknown") dtype \(dtype); ModelKit reads "
                + "\(SafetensorsDType.supportedList)" + (known ? " (convert the tensor to one of these first)" : "")
        case .sizeMismatch(let path, let tensor, let dtype, let shape, let expected, let actual):
            return "\(path): tensor \(MessageText.quoted(tensor)): \(dtype) \(shape) needs \(expected) bytes but its data_offsets span \(actual)"
        case .shapeOverflow(let path, let tensor, let dtype, let shape):
            return "\(path): tensor \(MessageText.quoted(tensor)): \(dtype) \(shape) has more bytes than can exist (the size overflows)"
        case .invalidOffsets(let path, let tensor, let reason):
            return "\(path): tensor \(MessageText.quoted(tensor)): \(reason)"
        case .trailingBytes(let path, let covered, let available):
            return "\(path): the tensors cover \(covered) of the \(available) data bytes; the last \(available - covered) "
                + "belong to no tensor (every byte after the header must belong to exactly one tensor)"
        case .invalidIndex(let path, let reason):
            return "\(path): invalid sharded-checkpoint index: \(reason)"
        case .unsafeShardPath(let path, let shard, let reason):
            return "\(path): refusing shard \(MessageText.quoted(shard)): \(reason); shards must be files in the index's own folder"
        case .shardMismatch(let path, let reason):
            return "\(path): the index and its shards disagree: \(reason)"
        case .missingArchitecture(let path, let suggestion):
            return "\(path): the file holds weights only and does not say how they connect; pass --arch"
                + (suggestion.map { ", e.g. --arch \"\($0)\" (sizes read from the tensor shapes; choose the activations)" } ?? " \"linear(IN,OUT) relu linear(IN,OUT) …\"")
        case .invalidArchitecture(let path, let error):
            return "\(path): the modelkit.architecture metadata is invalid: \(error); pass --arch to override it"
        case .binding(let path, let error):
            return "\(path): \(error)"
        case .cannotWrite(let path, let reason):
            return "\(path): cannot write safetensors: \(reason)"
        }
    }
}
