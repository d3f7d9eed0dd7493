/// How checkpoint tensors are stored (`--compression none|fast|best`).
///
/// `fast` and `best` store every tensor that shrinks as `shuffle-zlib` (Specs/checkpoint.md section 1) at zlib
/// level 1 or 9; `none` writes `raw` tensors (a format 1.0 file).
public enum CheckpointCompression: String, Sendable, CaseIterable {
    /// `raw` tensors (format 1.0).
    case none
    /// zlib level 1.
    case fast
    /// zlib level 9.
    case best

    /// The zlib level the `.mkit` writer takes, `nil` for raw.
    public var zlibLevel: Zlib.Level? {
        switch self {
        case .none: nil
        case .fast: .fast
        case .best: .best
        }
    }
}
