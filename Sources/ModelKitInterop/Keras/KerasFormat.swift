import ModelKitCore
import ModelKitFormat

/// Reads and writes Keras models: Keras 3 `.keras` archives and legacy `.h5` files from `model.save("x.h5")`,
/// without Python and without running anything from the file. HDF5 is read by ModelKit's own bounds-checked reader
/// and written with libhdf5.
///
/// The architecture comes from the Keras config (Sequential or single-chain Functional models of `InputLayer`,
/// `Dense`, `Activation`, `Dropout`, `Softmax`, `ReLU`, `LeakyReLU`, `Identity`); `Lambda` layers and custom
/// objects are refused by name. Dense kernels are `[in, out]` and become `in_out` weights
/// (Specs/interop/keras.md).
///
/// ```swift
/// let model = try KerasFormat.read(path: "classifier.keras")      // or "classifier.h5"
/// try KerasFormat.write(model, to: "copy.keras")                  // keras.saving.load_model reads it
/// ```
public enum KerasFormat {
    /// The largest `config.json` read, in bytes.
    public static let maximumConfigBytes = 64 << 20

    /// Whether the file at `path` looks like a Keras model: a zip archive with `config.json` and
    /// `model.weights.h5`, or an HDF5 file. Reads only the zip directory or the first 8 bytes.
    public static func recognizes(path: String) -> Bool {
        guard let storage = try? MappedFile.open(path) else { return false }
        switch FileSniffer.detect(storage.bytes) {
        case .hdf5:
            return true
        case .zip:
            guard let archive = try? ZipArchive(storage: storage, path: path) else { return false }
            return archive.member(named: "config.json") != nil && archive.member(named: "model.weights.h5") != nil
        default:
            return false
        }
    }

    /// Reads the Keras model at `path` (a `.keras` archive or a legacy `.h5` file; the content decides).
    ///
    /// - Returns: A model named after the file, `sourceFormat` `"keras"`, input shape `[nil, features]`, layers
    ///   named as in Keras (a `Dense` with an activation gives two layers, `d1` and `d1_relu`), weights
    ///   `<layer>/kernel` (`in_out`, layout source `convention`) and `<layer>/bias`, all float32.
    /// - Throws: ``KerasError``: unreadable, damaged or hostile files, refused layers (`Lambda`, custom objects,
    ///   unsupported classes or activations), weights that do not match the config.
    public static func read(path: String) throws(KerasError) -> Model {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .fileAccess(error) }
        switch FileSniffer.detect(storage.bytes) {
        case .zip: return try readArchive(storage: storage, path: path)
        case .hdf5: return try readLegacy(storage: storage, path: path)
        case let other: throw .notKeras(path: path, detected: other.rawValue)
        }
    }

    /// Writes `model` atomically as a Keras 3 `.keras` archive, or as a legacy `.h5` file when `path` ends in
    /// `.h5` or `.hdf5`.
    ///
    /// The model becomes a `Sequential` of `InputLayer`, `Dense` (kernels `[in, out]`: `out_in` weights are
    /// transposed; values float32), `Activation`, `LeakyReLU`, `Softmax` and `Dropout` layers named as the
    /// model's layers; `keras.saving.load_model` loads the file and predicts the same.
    ///
    /// - Throws: ``KerasError/cannotExport(path:reason:)`` for layers Keras cannot express (a tanh-approximated
    ///   GELU) or an invalid model, ``KerasError/fileAccess(_:)`` when the file cannot be written.
    public static func write(_ model: Model, to path: String) throws(KerasError) {
        let lowered = path.lowercased()
        if lowered.hasSuffix(".h5") || lowered.hasSuffix(".hdf5") {
            try KerasWriter.writeLegacy(model, to: path)
        } else {
            try KerasWriter.writeArchive(model, to: path)
        }
    }

    // MARK: - Reading

    static func readArchive(storage: TensorStorage, path: String) throws(KerasError) -> Model {
        let archive: ZipArchive
        do { archive = try ZipArchive(storage: storage, path: path) } catch { throw .archive(error) }
        for required in ["config.json", "model.weights.h5"] where archive.member(named: required) == nil {
            throw .missingMember(path: path, member: required, available: archive.memberNames)
        }
        let configJSON = try json(archive, member: "config.json", path: path)
        let config = try KerasModelConfig(configJSON, path: "\(path)[config.json]")
        var version: String?
        if archive.member(named: "metadata.json") != nil {
            version = try json(archive, member: "metadata.json", path: path)["keras_version"]?.stringValue
        }
        let weights: ZipMemberContents
        do { weights = try archive.contents(ofMemberNamed: "model.weights.h5") } catch { throw .archive(error) }
        let label = "\(path)[model.weights.h5]"
        let origin = KerasModelBuilder.Origin(path: path, fileFormat: "keras", kerasVersion: version, backend: nil)
        var result: Result<Model, KerasError> = .failure(.hdf5(path: label, object: "/", reason: "not read"))
        weights.withUnsafeBytes { bytes in
            result = Result { () throws(KerasError) -> Model in
                let reader = try HDF5Reader(image: bytes, label: label)
                let store = try KerasWeightReader(reader: reader, layout: .kerasStore)
                return try KerasModelBuilder.build(config, weights: store, origin: origin)
            }
        }
        return try result.get()
    }

    static func readLegacy(storage: TensorStorage, path: String) throws(KerasError) -> Model {
        // The reader points into the storage's bytes.
        defer { withExtendedLifetime(storage) {} }
        let reader = try HDF5Reader(image: storage.bytes, label: path)
        let root = try reader.root()
        guard let configText = try reader.stringAttribute("model_config", of: root, objectPath: "/") else {
            throw .noModelConfig(path: path)
        }
        let configJSON: JSONValue
        do { configJSON = try JSONValue.parse(configText) } catch {
            throw .invalidConfig(path: path, reason: "the 'model_config' attribute is not valid JSON: \(error)")
        }
        let config = try KerasModelConfig(configJSON, path: path)
        var version = try reader.stringAttribute("keras_version", of: root, objectPath: "/")
        var backend = try reader.stringAttribute("backend", of: root, objectPath: "/")
        if let group = try reader.group(at: "model_weights") {
            if version == nil { version = try reader.stringAttribute("keras_version", of: group, objectPath: "model_weights") }
            if backend == nil { backend = try reader.stringAttribute("backend", of: group, objectPath: "model_weights") }
        }
        let weights = try KerasWeightReader(reader: reader, layout: .legacy)
        let origin = KerasModelBuilder.Origin(path: path, fileFormat: "h5", kerasVersion: version, backend: backend)
        return try KerasModelBuilder.build(config, weights: weights, origin: origin)
    }

    /// A JSON member of the archive, size-capped before it is read.
    private static func json(_ archive: ZipArchive, member name: String, path: String) throws(KerasError) -> JSONValue {
        guard let member = archive.member(named: name) else { throw .missingMember(path: path, member: name, available: archive.memberNames) }
        guard member.uncompressedSize <= maximumConfigBytes else {
            throw .invalidConfig(path: "\(path)[\(name)]", reason: "\(member.uncompressedSize) bytes, more than the limit of \(maximumConfigBytes)")
        }
        let bytes: [UInt8]
        do { bytes = try archive.contents(of: member).copyBytes() } catch { throw .archive(error) }
        do { return try JSONValue.parse(bytes) } catch {
            throw .invalidConfig(path: "\(path)[\(name)]", reason: "not valid JSON: \(error.description)")
        }
    }
}
