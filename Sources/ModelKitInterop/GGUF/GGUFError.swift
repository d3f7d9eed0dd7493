import ModelKitCore
import ModelKitFormat

/// Why a GGUF file could not be read or written.
///
/// `source` names the file. Every description is one line: what is wrong, where (offset, metadata key or tensor
/// name), the numbers involved, and what to do. "Not GGUF", "truncated" and "corrupt" are different cases.
public enum GGUFError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened, mapped or written.
    case fileAccess(FileAccessError)
    /// The bytes do not start with `GGUF`; `detected` says what they look like instead.
    case notGGUF(source: String, detected: String)
    /// A version this reader does not handle (1, 0, or newer than 3); `reason` says why and what to do.
    case unsupportedVersion(source: String, version: UInt32, reason: String)
    /// The file ends inside `section` (e.g. `metadata key 3 'general.name' value`).
    case truncated(source: String, section: String, offset: Int, needed: Int, available: Int)
    /// A count or length field holds more than the bytes left in the file could possibly hold.
    case implausibleCount(source: String, field: String, offset: Int, value: UInt64, limit: Int)
    /// A metadata entry is invalid (unknown value type, duplicate key, invalid UTF-8, nesting too deep, …).
    case invalidMetadata(source: String, key: String, offset: Int, reason: String)
    /// `general.alignment` is not a non-zero power of two stored as UINT32.
    case invalidAlignment(source: String, value: String)
    /// A tensor info is invalid (name, dimensions, type or offset); `index` counts from 0.
    case invalidTensorInfo(source: String, tensor: String, index: Int, reason: String)
    /// A tensor's bytes are misplaced: misaligned, past the end of the file, or overlapping another tensor.
    case invalidDataLayout(source: String, tensor: String, reason: String)
    /// The tensor's type is one ModelKit lists but does not load.
    case unsupportedTensorType(source: String, tensor: String, type: GGUFTensorType)
    /// The file has no `modelkit.*` architecture keys and no architecture was given.
    case needsArchitecture(source: String, fileArchitecture: String?, tensorCount: Int)
    /// The `modelkit.*` keys are present but wrong.
    case invalidModelKeys(source: String, key: String, reason: String)
    /// The tensors do not fit the architecture.
    case binding(source: String, WeightBindingError)
    /// The architecture in `modelkit.architecture` does not parse.
    case architecture(source: String, ArchitectureError)
    /// A model cannot be written as GGUF; `subject` names the tensor or setting.
    case cannotWrite(subject: String, reason: String)

    /// The one-line message: the file, what is wrong, where, and what to do.
    public var description: String {
        switch self {
        case .fileAccess(let error):
            return error.description
        case .notGGUF(let source, let detected):
            return "\(source): not a GGUF file: it does not start with 'GGUF' (it looks like \(detected))"
        case .unsupportedVersion(let source, let version, let reason):
            return "\(source): GGUF version \(version) is not supported: \(reason)"
        case .truncated(let source, let section, let offset, let needed, let available):
            return "\(source): truncated in \(section): needs \(needed) bytes at offset \(offset), only \(max(available, 0)) left; "
                + "the file was cut short, download or copy it again"
        case .implausibleCount(let source, let field, let offset, let value, let limit):
            return "\(source): \(field) at offset \(offset) is \(value), but the bytes left in the file can hold at most \(limit); "
                + "the file is corrupt or hostile"
        case .invalidMetadata(let source, let key, let offset, let reason):
            return "\(source): metadata \(key) at offset \(offset): \(reason)"
        case .invalidAlignment(let source, let value):
            return "\(source): general.alignment is \(value); it must be a UINT32 that is a non-zero power of two (default 32)"
        case .invalidTensorInfo(let source, let tensor, let index, let reason):
            return "\(source): tensor info \(index) \(MessageText.quoted(tensor)): \(reason)"
        case .invalidDataLayout(let source, let tensor, let reason):
            return "\(source): tensor \(MessageText.quoted(tensor)): \(reason)"
        case .unsupportedTensorType(let source, let tensor, let type):
            return "\(source): unsupported tensor type \(type.rawValue) (\(type.name)) in tensor \(MessageText.quoted(tensor)); ModelKit loads "
                + "F32, F16, BF16, F64, I8, I16, I32, I64, and Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K "
                + "(dequantized); `modelkit inspect` still lists the file"
        case .needsArchitecture(let source, let fileArchitecture, let tensorCount):
            let what = fileArchitecture.map { "general.architecture is '\($0)'" } ?? "no general.architecture"
            return "\(source): this GGUF file (\(what), \(tensorCount) tensor\(tensorCount == 1 ? "" : "s")) has no modelkit.* "
                + "architecture keys, so how its tensors connect is unknown; pass --arch, e.g. --arch \"linear(400,200) relu linear(200,2)\""
        case .invalidModelKeys(let source, let key, let reason):
            return "\(source): \(key): \(reason)"
        case .binding(let source, let error):
            return "\(source): \(error.description)"
        case .architecture(let source, let error):
            return "\(source): modelkit.architecture: \(error.description)"
        case .cannotWrite(let subject, let reason):
            return "cannot write GGUF: \(subject): \(reason)"
        }
    }
}
