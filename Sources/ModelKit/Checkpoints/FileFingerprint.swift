#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelKitCore

/// A cheap change detector for the files a training run started from (the source model and the data): the CRC-32
/// of the file's bytes and its length.
///
/// Why not SHA-256: the fingerprint only has to notice that `--resume` is given a different or edited file by
/// accident (a random change goes unnoticed with probability 2⁻³², and any change of length always shows). It is
/// not a security measure: anyone can make a different file with the same CRC. CRC-32 is what the format already
/// uses everywhere (Specs/format.md C1), needs no extra dependency, and runs at memory speed through zlib, so
/// fingerprinting a multi-gigabyte data set at every resume costs about a second.
public struct FileFingerprint: Sendable, Equatable, CustomStringConvertible {
    /// The checksum algorithm; `crc32` is the only one written.
    public var algorithm: String
    /// The checksum, 8 lowercase hex digits.
    public var value: String
    /// The file's length in bytes.
    public var byteCount: Int

    /// A fingerprint from its parts.
    public init(algorithm: String = "crc32", value: String, byteCount: Int) {
        self.algorithm = algorithm
        self.value = value
        self.byteCount = byteCount
    }

    /// The fingerprint of `bytes`.
    public init(bytes: UnsafeRawBufferPointer) {
        self.init(value: CRC32.hex(CRC32.checksum(bytes)), byteCount: bytes.count)
    }

    /// The fingerprint of the file at `path` (memory-mapped, not copied).
    ///
    /// - Throws: ``CheckpointError`` `.invalidRequest` when the file cannot be read.
    public static func of(file path: String) throws(CheckpointError) -> FileFingerprint {
        do {
            let storage = try MappedFile.open(path)
            return FileFingerprint(bytes: storage.bytes)
        } catch {
            throw CheckpointError(.invalidRequest, "cannot fingerprint the file: \(error.reason)", path: path)
        }
    }

    /// `crc32:1a2b3c4d (123 bytes)`.
    public var description: String { "\(algorithm):\(value) (\(byteCount) bytes)" }

    /// The JSON form: `{"algorithm": "crc32", "value": "…", "bytes": N}`.
    public var jsonValue: JSONValue {
        .object(JSONObject([("algorithm", .string(algorithm)), ("value", .string(value)), ("bytes", .integer(byteCount))]))
    }

    /// Reads ``jsonValue``'s form; `nil` for JSON `null`.
    init?(json: JSONValue, key: String) throws(CheckpointError) {
        if json.isNull { return nil }
        guard let algorithm = json["algorithm"]?.stringValue, let value = json["value"]?.stringValue,
              let bytes = json["bytes"]?.intValue, bytes >= 0 else {
            throw CheckpointError(.invalid, "checkpoint key \(MessageText.quoted(key)) must be null or {\"algorithm\", \"value\", \"bytes\"}")
        }
        self.init(algorithm: algorithm, value: value, byteCount: bytes)
    }
}
