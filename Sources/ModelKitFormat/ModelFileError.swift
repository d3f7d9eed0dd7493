/// Why a model file could not be read or written. The description is one line a user can act on.
///
/// ``Kind`` separates "this is not that format" from "it is, but truncated" from "it is, but damaged", because the
/// fixes differ (pick another reader, download again, restore a backup).
public struct ModelFileError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The bytes are not this format at all (the message says what they look like).
        case notThisFormat = "not this format"
        /// The file ends early.
        case truncated
        /// A checksum does not match.
        case checksumMismatch = "checksum mismatch"
        /// The structure is inconsistent (bad offsets, lying sizes, invalid header).
        case corrupt
        /// A version or feature this reader does not support.
        case unsupported
        /// The file system refused (missing file, permissions, full disk).
        case io
        /// The request itself cannot be done (e.g. overwriting the input).
        case invalidRequest = "invalid request"
    }

    public var kind: Kind
    /// The file concerned, when known.
    public var path: String?
    public var message: String

    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    /// The same error, naming `path` if it did not name a file yet.
    public func at(_ path: String) -> ModelFileError {
        var copy = self
        if copy.path == nil { copy.path = path }
        return copy
    }

    public var description: String { (path.map { "\($0): " } ?? "") + message }
}
