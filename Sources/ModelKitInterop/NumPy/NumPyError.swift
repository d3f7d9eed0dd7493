import ModelKitCore
import ModelKitFormat

/// Why a `.npy` or `.npz` file could not be read or written.
///
/// `source` names the file, or `archive.npz[member.npy]` for a member of an archive, so every description says
/// where the problem is. Descriptions are one line: what is wrong, the numbers involved, and what to do.
public enum NumPyError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened, mapped or written.
    case fileAccess(FileAccessError)
    /// The bytes do not start with the `.npy` magic; `detected` says what they look like instead.
    case notNumPy(source: String, detected: String)
    /// A format version other than 1.0, 2.0 and 3.0.
    case unsupportedVersion(source: String, major: UInt8, minor: UInt8)
    /// The file ends inside the magic, the header length or the header.
    case truncatedHeader(source: String, needed: Int, available: Int)
    /// The header length exceeds ``NumPyFile/maximumHeaderLength``.
    case headerTooLarge(source: String, length: Int, limit: Int)
    /// The header is not the dictionary literal NumPy writes.
    case malformedHeader(source: String, reason: String)
    /// The dtype is one we do not read (object/pickle, complex, strings, structured, ...).
    case unsupportedDType(source: String, descr: String, hint: String)
    /// The shape is not a tuple of non-negative integers, or it is too large to exist.
    case invalidShape(source: String, shape: String, reason: String)
    /// Fewer data bytes follow the header than the shape and dtype need.
    case truncatedData(source: String, expected: Int, available: Int)
    /// More bytes follow the data than the shape and dtype account for.
    case trailingData(source: String, expected: Int, available: Int)
    /// The `.npz` archive itself is damaged or unsafe.
    case archive(ZipArchiveError)
    /// An `.npz` member is not a `.npy` file.
    case notAnArrayMember(source: String, member: String)
    /// No array of that name in the `.npz` archive.
    case arrayNotFound(source: String, name: String, available: [String])
    /// An array name that cannot be written as an `.npz` member.
    case invalidArrayName(name: String, reason: String)
    /// The tensor's dtype has no NumPy equivalent (bfloat16).
    case unsupportedDTypeForWriting(DType)

    /// One line naming the file and saying what is wrong and what to do.
    public var description: String {
        switch self {
        case .fileAccess(let error):
            return error.description
        case .notNumPy(let source, let detected):
            return "\(source): not a NumPy .npy file: it does not start with \\x93NUMPY (it looks like \(detected))"
        case .unsupportedVersion(let source, let major, let minor):
            return "\(source): .npy format version \(major).\(minor) is not supported (1.0, 2.0 and 3.0 are); "
                + "re-save it with np.save"
        case .truncatedHeader(let source, let needed, let available):
            return "\(source): truncated .npy header: needs \(needed) bytes but the file has \(available); "
                + "the file was cut short, download or copy it again"
        case .headerTooLarge(let source, let length, let limit):
            return "\(source): .npy header of \(length) bytes is larger than the limit of \(limit) "
                + "(NumPy's own default limit); the file is damaged or hostile"
        case .malformedHeader(let source, let reason):
            return "\(source): malformed .npy header: \(reason)"
        case .unsupportedDType(let source, let descr, let hint):
            return "\(source): unsupported dtype \(MessageText.oneLine(descr)): \(hint)"
        case .invalidShape(let source, let shape, let reason):
            return "\(source): invalid shape \(MessageText.oneLine(shape)): \(reason)"
        case .truncatedData(let source, let expected, let available):
            return "\(source): truncated data: the shape and dtype need \(expected) bytes but only \(available) follow "
                + "the header (\(expected - available) bytes missing); the file was cut short, download or copy it again"
        case .trailingData(let source, let expected, let available):
            return "\(source): \(available - expected) unexpected bytes after the \(expected) bytes of array data; "
                + "the header's shape does not match the file"
        case .archive(let error):
            return error.description
        case .notAnArrayMember(let source, let member):
            return "\(source): member \(MessageText.quoted(member)) is not a .npy array (np.savez writes only '<name>.npy' members)"
        case .arrayNotFound(let source, let name, let available):
            let list = available.isEmpty ? "none" : MessageText.list(available.map { MessageText.quoted($0) })
            return "\(source): no array named \(MessageText.quoted(name)); the archive holds: \(list)"
        case .invalidArrayName(let name, let reason):
            return "cannot write an array named \(MessageText.quoted(name)): \(reason)"
        case .unsupportedDTypeForWriting(let dtype):
            return "NumPy has no \(dtype.rawValue) type; convert the tensor to float32 before saving it as .npy"
        }
    }
}
