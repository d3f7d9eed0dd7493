/// Why a checkpoint could not be written, read or resumed from. The description is one line that names the file
/// (and the tensor, for damage) and says what to do.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, so callers can tell "try an older checkpoint" from "stop".
    public enum Kind: String, Sendable {
        /// The file is a ModelKit model but carries no checkpoint parts (`modelkit.checkpoint` metadata).
        case notACheckpoint = "not a checkpoint"
        /// A checksum failed or the file is truncated or structurally damaged (the message names the tensor).
        case damaged
        /// The checkpoint parts are present but inconsistent (missing optimizer tensor, malformed state).
        case invalid
        /// Written by a newer checkpoint version.
        case unsupported
        /// Writing failed (full disk, file-size limit, permissions); the previous checkpoints are untouched.
        case writeFailed = "write failed"
        /// A directory holds no checkpoint that passes its checksums.
        case noValidCheckpoint = "no valid checkpoint"
        /// The request cannot be done (e.g. a model tensor under the reserved `optimizer/` prefix).
        case invalidRequest = "invalid request"
    }

    /// What went wrong.
    public var kind: Kind
    /// The file or directory concerned.
    public var path: String?
    /// One line: what is wrong and how to fix it.
    public var message: String

    /// An error of `kind` about `path`.
    public init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    /// `path: message`.
    public var description: String { (path.map { "\($0): " } ?? "") + message }
}
