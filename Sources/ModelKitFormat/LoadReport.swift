import ModelKitCore

/// How checksums are treated when reading.
public enum ChecksumPolicy: Sendable {
    /// Verify every checksum; a mismatch is an error naming the tensor (the default).
    case enforce
    /// Verify and record the result without failing (for `inspect`).
    case report
    /// Do not compute checksums.
    case skip
}

/// The result of checking one checksum.
public enum ChecksumStatus: String, Sendable {
    case ok
    case mismatch
    case notChecked = "not checked"
    /// The form has no checksums (JSON).
    case absent = "none"
}

/// A model read from a file, with what the file said about itself.
public struct LoadedModel: Sendable {
    public var model: Model
    /// A short name of the file format, e.g. `ModelKit binary`.
    public var formatName: String
    /// The file's format version, e.g. `1.0`.
    public var formatVersion: String
    public var fileSize: Int
    public var headerChecksum: ChecksumStatus
    /// Per tensor name.
    public var tensorChecksums: [String: ChecksumStatus]
    /// Stored encoding per tensor name (`raw`, or a compressed encoding).
    public var tensorEncodings: [String: String]
    /// Stored byte count per tensor (equals the decoded count for `raw`).
    public var storedBytes: [String: Int]
    /// Notes for the user (e.g. non-finite weights).
    public var notes: [String]

    public init(model: Model, formatName: String, formatVersion: String, fileSize: Int,
                headerChecksum: ChecksumStatus = .absent, tensorChecksums: [String: ChecksumStatus] = [:],
                tensorEncodings: [String: String] = [:], storedBytes: [String: Int] = [:], notes: [String] = []) {
        self.model = model
        self.formatName = formatName
        self.formatVersion = formatVersion
        self.fileSize = fileSize
        self.headerChecksum = headerChecksum
        self.tensorChecksums = tensorChecksums
        self.tensorEncodings = tensorEncodings
        self.storedBytes = storedBytes
        self.notes = notes
    }
}
