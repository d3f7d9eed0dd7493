import ModelKitCore
import ModelKitFormat

/// Why a PyTorch file could not be read or written.
///
/// `path` names the file; pickle errors name the record (`model.pt[archive/data.pkl]`) and the byte offset in it.
/// Each description is one line: what is wrong, where, and what to do.
public enum PyTorchError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened, mapped or written.
    case fileAccess(FileAccessError)
    /// The zip archive itself is damaged or unsafe (bad records, `..` member names, CRC mismatch, truncation).
    case archive(ZipArchiveError)
    /// Neither a `torch.save` zip nor a pickle; `detected` says what the bytes look like.
    case notPyTorch(path: String, detected: String)
    /// A zip archive without `<archive>/data.pkl`.
    case notATorchArchive(path: String, members: [String])
    /// A file in the pre-1.6 format (a pickle stream starting with torch's magic number, then raw storages) whose
    /// stream is damaged: `reason` says where.
    case legacyFormat(path: String, reason: String)
    /// A TorchScript archive (`torch.jit.save`), which holds code.
    case torchScript(path: String)
    /// A raw pickle that is not a legacy `torch.save` file.
    case barePickle(path: String, holds: String)
    /// The pickle names a global outside the allowlist. Nothing from the file was executed.
    case refusedGlobal(source: String, offset: Int, global: String)
    /// An opcode outside the subset `torch.save` writes.
    case unsupportedOpcode(source: String, offset: Int, opcode: UInt8, name: String)
    /// The pickle is malformed (stack underflow, wrong argument types, truncated, …).
    case malformedPickle(source: String, offset: Int, reason: String)
    /// The pickle exceeds a resource limit (nesting, stack, memo, objects).
    case pickleLimit(source: String, offset: Int, what: String, limit: Int)
    /// The `byteorder` record is neither `little` nor `big`.
    case invalidByteOrder(path: String, value: String)
    /// A tensor refers to a storage record the archive does not have.
    case missingStorage(path: String, tensor: String, record: String)
    /// A storage record's size disagrees with its persistent id.
    case storageSizeMismatch(path: String, record: String, expected: Int, actual: Int)
    /// A tensor's size, stride or offset does not fit its storage.
    case invalidTensorView(path: String, tensor: String, reason: String)
    /// A tensor of a dtype ModelKit has no type for.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// No entry at the requested key path.
    case keyNotFound(path: String, key: String, available: [String])
    /// The value at the key path (or the top level) is not a dict of tensors.
    case notAStateDict(path: String, key: String?, reason: String)
    /// A state dict holds weights only and the file does not record how they connect; `suggestion` is an `--arch`
    /// value with the sizes the weights' shapes give, when they chain.
    case missingArchitecture(path: String, suggestion: String?)
    /// The architecture (from the caller or embedded in the file) cannot be used.
    case architecture(path: String, ArchitectureError)
    /// The tensors do not fit the architecture.
    case binding(path: String, WeightBindingError)
    /// The model cannot be written as a PyTorch state dict.
    case cannotExport(path: String, reason: String)

    /// The class of problem, as ``ModelFileError`` names them (for exit codes).
    public var kind: ModelFileError.Kind {
        switch self {
        case .fileAccess: .io
        case .archive(.cannotOpen): .io
        case .archive(.notAZipArchive), .notPyTorch, .notATorchArchive, .barePickle: .notThisFormat
        case .archive(.truncated): .truncated
        case .archive(.checksumMismatch): .checksumMismatch
        case .archive(.unsupported): .unsupported
        case .archive: .corrupt
        case .torchScript, .refusedGlobal, .unsupportedOpcode, .unsupportedDType: .unsupported
        case .legacyFormat, .malformedPickle, .pickleLimit, .invalidByteOrder, .missingStorage, .storageSizeMismatch, .invalidTensorView: .corrupt
        case .keyNotFound, .notAStateDict, .missingArchitecture, .architecture, .binding, .cannotExport: .invalidRequest
        }
    }

    /// The advice shared by the formats ModelKit does not read.
    static let resaveAdvice = "re-save it with torch.save(model.state_dict(), path) (torch ≥ 1.6 writes the zip format by default)"

    public var description: String {
        switch self {
        case .fileAccess(let error):
            return error.description
        case .archive(let error):
            return error.description
        case .notPyTorch(let path, let detected):
            return "\(path): not a PyTorch file: it is neither a torch.save zip archive nor a pickle (it looks like \(detected))"
        case .notATorchArchive(let path, let members):
            let shown = members.prefix(8).map { "'\($0)'" }.joined(separator: ", ") + (members.count > 8 ? ", …" : "")
            return "\(path): a zip archive but not a torch.save file: there is no '<archive>/data.pkl' member "
                + "(it holds \(members.isEmpty ? "nothing" : shown))"
        case .legacyFormat(let path, let reason):
            return "\(path): damaged legacy torch.save file (the format before torch 1.6): \(reason)"
        case .torchScript(let path):
            return "\(path): a TorchScript archive (torch.jit.save) is not supported: it holds code, not just weights; "
                + "load it in Python and save the weights with torch.save(model.state_dict(), path) (torch ≥ 1.6)"
        case .barePickle(let path, let holds):
            return "\(path): a bare pickle holding \(holds), not a torch.save archive; \(Self.resaveAdvice)"
        case .refusedGlobal(let source, let offset, let global):
            return "\(source): refusing global \(MessageText.quoted(global)) (pickle offset \(offset)): only tensors and containers can be "
                + "loaded; loading never runs code from the file"
        case .unsupportedOpcode(let source, let offset, let opcode, let name):
            return "\(source): pickle opcode \(name) (0x\(String(opcode, radix: 16))) at offset \(offset) is not one "
                + "torch.save writes for tensors and containers; the file is damaged or was not written by torch.save"
        case .malformedPickle(let source, let offset, let reason):
            return "\(source): malformed pickle at offset \(offset): \(reason)"
        case .pickleLimit(let source, let offset, let what, let limit):
            return "\(source): the pickle exceeds the limit of \(limit) \(what) at offset \(offset); "
                + "a state dict never needs that many: the file is damaged or hostile"
        case .invalidByteOrder(let path, let value):
            return "\(path): the byteorder record says \(MessageText.quoted(value)); it must be 'little' or 'big'"
        case .missingStorage(let path, let tensor, let record):
            return "\(path): tensor \(MessageText.quoted(tensor)) refers to storage record \(MessageText.quoted(record)), which the archive does not have; "
                + "the file is damaged or incomplete"
        case .storageSizeMismatch(let path, let record, let expected, let actual):
            return "\(path): storage record \(MessageText.quoted(record)) holds \(actual) bytes but its reference in data.pkl needs "
                + "\(expected); the file is damaged"
        case .invalidTensorView(let path, let tensor, let reason):
            return "\(path): tensor \(MessageText.quoted(tensor)): \(reason); the file is damaged or hostile"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor \(MessageText.quoted(tensor)) has dtype torch.\(dtype), which ModelKit does not support; convert it "
                + "in Python (e.g. tensor.float()) and re-save"
        case .keyNotFound(let path, let key, let available):
            let list = available.isEmpty ? "none" : available.prefix(20).map { "'\($0)'" }.joined(separator: ", ")
                + (available.count > 20 ? ", …" : "")
            return "\(path): no entry \(MessageText.quoted(key)); the keys there are: \(list)"
        case .notAStateDict(let path, let key, let reason):
            return "\(path)\(key.map { " (key '\($0)')" } ?? ""): not a state dict: \(reason)"
        case .missingArchitecture(let path, let suggestion):
            return "\(path): a state dict holds weights only and this one does not say how they connect; pass --arch"
                + (suggestion.map { ", e.g. --arch \"\($0)\" (sizes read from the tensor shapes; choose the activations)" }
                    ?? " \"linear(IN,OUT) relu linear(IN,OUT) …\"")
        case .architecture(let path, let error):
            return "\(path): \(error)"
        case .binding(let path, let error):
            return "\(path): \(error)"
        case .cannotExport(let path, let reason):
            return "\(path): cannot write a PyTorch state dict: \(reason)"
        }
    }
}
