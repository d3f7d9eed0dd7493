import ModelKitCore

/// Reads and writes ModelKit's own two forms, choosing the reader by content and the writer by extension.
public enum ModelFile {
    /// The two forms of the ModelKit format.
    public enum Form: String, Sendable {
        case binary = "mkit"
        case json

        /// The form an output path asks for by its extension, if it is one of ours.
        public init?(path: String) {
            let lower = path.lowercased()
            if lower.hasSuffix(".mkit") { self = .binary } else if lower.hasSuffix(".json") { self = .json } else { return nil }
        }
    }

    /// Reads a `.mkit` or ModelKit `.json` file, whatever its name.
    public static func read(path: String, checksums: ChecksumPolicy = .enforce) throws(ModelFileError) -> LoadedModel {
        switch try sniff(path: path) {
        case .mkit, .mkitTextModeDamaged: return try MKitReader.read(path: path, checksums: checksums)
        case .modelKitJSON, .json: return try ModelJSONForm.read(path: path)
        case let other: throw ModelFileError(.notThisFormat, "not a ModelKit model: it looks like \(other.rawValue)", path: path)
        }
    }

    /// Writes `model` in `form` atomically.
    public static func write(_ model: Model, to path: String, form: Form) throws {
        switch form {
        case .binary: try MKitWriter.write(model, to: path)
        case .json: try ModelJSONForm.write(model, to: path)
        }
    }

    /// What the file at `path` looks like, from its first bytes.
    public static func sniff(path: String) throws(ModelFileError) -> FileSniffer.Detected {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw ModelFileError(.io, error.reason, path: path) }
        return FileSniffer.detect(storage.bytes)
    }
}
