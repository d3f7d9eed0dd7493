import ModelKitCore
import ModelKitFormat

/// Why a zip archive (`.npz`, a `torch.save` zip, a `.keras` file) or one of its members could not be read.
///
/// Each case names the archive and, where there is one, the member, so the one-line description says what is
/// wrong, where, and what to do about it.
public enum ZipArchiveError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case cannotOpen(FileAccessError)
    /// The bytes are not a zip archive; `detected` says what they look like instead.
    case notAZipArchive(path: String, detected: String)
    /// A structure runs past the end of the file.
    case truncated(path: String, what: String, offset: Int, needed: Int, available: Int)
    /// The archive's own records contradict each other (bad signature, offsets outside the file, overlaps).
    case corrupt(path: String, reason: String)
    /// A zip feature this reader refuses (encryption, split archives, compression methods other than deflate).
    case unsupported(path: String, member: String?, feature: String)
    /// A member name that could escape a directory or confuse a reader (`..`, absolute, backslash, NUL).
    case unsafeMemberName(path: String, member: String, reason: String)
    /// Two members share a name, so which one is meant is ambiguous.
    case duplicateMember(path: String, member: String)
    /// A member declares more uncompressed bytes than the limits allow (a zip bomb, or a lying size).
    case memberTooLarge(path: String, member: String, declared: Int, limit: Int, why: String)
    /// A member's bytes do not have the size its records declare.
    case sizeMismatch(path: String, member: String, declared: Int, actual: String)
    /// A member's CRC-32 does not match its bytes.
    case checksumMismatch(path: String, member: String, expected: UInt32, actual: UInt32)
    /// A deflated member's compressed data is damaged.
    case corruptMember(path: String, member: String, reason: String)
    /// No member has the requested name.
    case memberNotFound(path: String, member: String, available: [String])

    /// One line naming the file and saying what is wrong and what to do.
    public var description: String {
        switch self {
        case .cannotOpen(let error):
            return error.description
        case .notAZipArchive(let path, let detected):
            return "\(path): not a zip archive (it looks like \(detected))"
        case .truncated(let path, let what, let offset, let needed, let available):
            return "\(path): truncated: the \(what) at offset \(offset) needs \(needed) bytes but only \(max(available, 0)) "
                + "remain; the file was cut short, download or copy it again"
        case .corrupt(let path, let reason):
            return "\(path): corrupt zip archive: \(reason)"
        case .unsupported(let path, let member, let feature):
            return "\(path)\(member.map { ": member \(MessageText.quoted($0))" } ?? ""): unsupported zip feature: \(feature)"
        case .unsafeMemberName(let path, let member, let reason):
            return "\(path): refusing member \(MessageText.quoted(member)): \(reason); this archive may be malicious"
        case .duplicateMember(let path, let member):
            return "\(path): member \(MessageText.quoted(member)) appears more than once; which one is meant is ambiguous"
        case .memberTooLarge(let path, let member, let declared, let limit, let why):
            return "\(path): member \(MessageText.quoted(member)) declares \(declared) uncompressed bytes, more than the limit of \(limit) "
                + "(\(why)); a zip bomb or a damaged archive"
        case .sizeMismatch(let path, let member, let declared, let actual):
            return "\(path): member \(MessageText.quoted(member)) declares \(declared) uncompressed bytes but holds \(actual); "
                + "the archive is damaged"
        case .checksumMismatch(let path, let member, let expected, let actual):
            return "\(path): member \(MessageText.quoted(member)) fails its CRC-32 check (recorded \(CRC32.hex(expected)), "
                + "computed \(CRC32.hex(actual))); the archive is damaged, download or copy it again"
        case .corruptMember(let path, let member, let reason):
            return "\(path): member \(MessageText.quoted(member)) has damaged compressed data: \(reason)"
        case .memberNotFound(let path, let member, let available):
            let list = available.isEmpty ? "none" : MessageText.list(available.map { MessageText.quoted($0) })
            return "\(path): no member \(MessageText.quoted(member)); the archive holds: \(list)"
        }
    }
}
