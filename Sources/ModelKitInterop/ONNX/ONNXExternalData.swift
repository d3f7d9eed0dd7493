#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelKitCore
import ModelKitFormat

/// Paths of the files an ONNX model refers to.
enum ONNXPaths {
    /// The folder of `path` (`.` for a bare file name).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The canonical absolute form of an existing path (symlinks resolved), or `nil`.
    static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// The files holding tensors stored outside the `.onnx` file (`data_location = EXTERNAL`), mapped once each.
///
/// ONNX lets an initializer say "my bytes are in file `location`, at `offset`, `length` bytes long". A hostile model
/// could name `/etc/shadow`, `../../secret` or a symlink pointing out of its folder, so a location is accepted only
/// when it is relative, has no `..` component, and, with every symlink resolved, still lies inside the folder that
/// holds the `.onnx` file. Offsets and lengths are checked against the file's real size before anything is viewed.
final class ONNXExternalData {
    let modelPath: String
    private let directory: String
    private var mapped: [String: TensorStorage] = [:]

    init(modelPath: String) {
        self.modelPath = modelPath
        self.directory = ONNXPaths.parentDirectory(of: modelPath)
    }

    /// Where an external tensor's bytes are, as stated by its `external_data` entries.
    struct Reference {
        var location: String
        var offset: Int
        /// `nil`: to the end of the file.
        var length: Int?
    }

    /// Reads the `location` / `offset` / `length` entries of `proto`.
    func reference(of proto: Onnx_TensorProto) throws(ONNXError) -> Reference {
        let name = MessageText.quoted(proto.name)
        var location: String?
        var offset = 0
        var length: Int?
        for entry in proto.externalData {
            switch entry.key {
            case "location": location = entry.value
            case "offset", "length":
                guard let value = Int(entry.value), value >= 0 else {
                    throw ONNXError(.externalData, "tensor \(name): external data \(entry.key) "
                                    + "\(MessageText.quoted(entry.value)) is not a non-negative integer", path: modelPath)
                }
                if entry.key == "offset" { offset = value } else { length = value }
            default: continue  // `checksum` and future keys: not needed to find the bytes
            }
        }
        guard let location, !location.isEmpty else {
            throw ONNXError(.externalData, "tensor \(name) is stored externally but names no location", path: modelPath)
        }
        return Reference(location: location, offset: offset, length: length)
    }

    /// The `expectedBytes` bytes of the external tensor `proto`, viewed in its mapped file (no copy).
    func bytes(of proto: Onnx_TensorProto, expectedBytes: Int) throws(ONNXError) -> (storage: TensorStorage, offset: Int) {
        let name = MessageText.quoted(proto.name)
        let reference = try reference(of: proto)
        let storage = try storage(for: reference.location, tensor: name)
        let size = storage.bytes.count
        guard reference.offset <= size else {
            throw ONNXError(.externalData, "tensor \(name): external data offset \(reference.offset) lies past the end "
                            + "of \(MessageText.quoted(reference.location)) (\(size) bytes); the data file does not belong "
                            + "to this model or was cut short", path: modelPath)
        }
        let length = reference.length ?? (size - reference.offset)
        let (end, overflow) = reference.offset.addingReportingOverflow(length)
        guard !overflow, end <= size else {
            throw ONNXError(.externalData, "tensor \(name): external data range offset \(reference.offset) + length "
                            + "\(length) exceeds the \(size) bytes of \(MessageText.quoted(reference.location)); the data "
                            + "file does not belong to this model or was cut short", path: modelPath)
        }
        guard length == expectedBytes else {
            throw ONNXError(.externalData, "tensor \(name): external data holds \(length) bytes but its dims and type "
                            + "need \(expectedBytes)", path: modelPath)
        }
        return (storage, reference.offset)
    }

    /// Checks `location` and maps the file it names, once.
    private func storage(for location: String, tensor: String) throws(ONNXError) -> TensorStorage {
        if let existing = mapped[location] { return existing }
        let quotedLocation = MessageText.quoted(location)
        guard !location.hasPrefix("/") else {
            throw ONNXError(.externalData, "tensor \(tensor): external data location \(quotedLocation) is an absolute "
                            + "path; ModelKit reads external data only from the model's own folder", path: modelPath)
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.contains(".."), !location.contains("\0") else {
            throw ONNXError(.externalData, "tensor \(tensor): external data location \(quotedLocation) leaves the "
                            + "model's folder ('..'); refusing to read it", path: modelPath)
        }
        let candidate = directory + "/" + location
        guard let folder = ONNXPaths.canonical(directory) else {
            throw ONNXError(.io, "cannot resolve the model's folder \(MessageText.quoted(directory))", path: modelPath)
        }
        guard let resolved = ONNXPaths.canonical(candidate) else {
            throw ONNXError(.externalData, "tensor \(tensor): external data file \(quotedLocation) does not exist next "
                            + "to the model; copy it into \(MessageText.quoted(directory))", path: modelPath)
        }
        guard resolved.hasPrefix(folder == "/" ? "/" : folder + "/") else {
            throw ONNXError(.externalData, "tensor \(tensor): external data location \(quotedLocation) resolves (through "
                            + "a symlink) to \(MessageText.quoted(resolved)), outside the model's folder; refusing to "
                            + "read it", path: modelPath)
        }
        let storage: TensorStorage
        // Open the resolved path: a symlink swapped in after the check cannot redirect the read.
        do { storage = try MappedFile.open(resolved) } catch {
            throw ONNXError(.externalData, "tensor \(tensor): cannot read external data file \(quotedLocation): "
                            + error.reason, path: modelPath)
        }
        mapped[location] = storage
        return storage
    }
}
