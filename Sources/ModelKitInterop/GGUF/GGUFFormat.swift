import ModelKitCore
import ModelKitFormat

/// Reads and writes GGUF files (versions 2 and 3, little-endian), the format of ggml and llama.cpp.
///
/// - ``readHeader(path:)`` describes any GGUF file, an LLM of many gigabytes included, from its header alone.
/// - ``read(path:architecture:weightLayout:)`` loads a dense network: files ModelKit wrote carry their layers in
///   `modelkit.*` keys; any other file needs an ``Architecture`` (the `--arch` flag) to bind its tensors.
/// - ``write(_:to:alignment:)`` writes GGUF v3 that gguf-py and llama.cpp's reader accept.
///
/// F32, F16, BF16, F64 and the integer types are viewed in the memory-mapped file without a copy; Q8_0, Q4_0, Q4_1,
/// Q5_0, Q5_1 and the K-quants Q2_K–Q6_K are dequantized to float32. Dimensions are reversed on the way in and out: GGUF lists the fastest-varying axis first.
/// See Specs/interop/gguf.md.
///
/// ```swift
/// let header = try GGUFFormat.readHeader(path: "model.gguf")
/// print(header.architecture ?? "?", header.tensors.count)
/// let loaded = try GGUFFormat.read(path: "weights.gguf",
///                                  architecture: try Architecture(parsing: "linear(400,200) relu linear(200,2) softmax"))
/// try GGUFFormat.write(loaded.model, to: "copy.gguf")   // reads back without an architecture
/// ```
public enum GGUFFormat {
    /// The alignment ModelKit writes, and the one a file without `general.alignment` has.
    public static let defaultAlignment = 32

    // MARK: - Header

    /// Reads the version, metadata and tensor infos of the GGUF file at `path`, and checks that every tensor's bytes
    /// lie inside the file, without reading the tensor data.
    ///
    /// - Throws: ``GGUFError`` when the file cannot be opened, is not GGUF, is truncated, or is malformed.
    public static func readHeader(path: String) throws(GGUFError) -> GGUFHeader {
        try readHeader(storage: try open(path), source: path)
    }

    /// Reads the header of a GGUF file held in `storage` (`source` names it in errors).
    ///
    /// - Throws: ``GGUFError``.
    public static func readHeader(storage: TensorStorage, source: String) throws(GGUFError) -> GGUFHeader {
        try GGUFHeaderParser.parse(storage.bytes, source: source)
    }

    /// Reads the header of a GGUF file held in memory.
    ///
    /// - Throws: ``GGUFError``.
    public static func readHeader(bytes: [UInt8], source: String = "<memory>") throws(GGUFError) -> GGUFHeader {
        try readHeader(storage: TensorStorage(copying: bytes), source: source)
    }

    // MARK: - Tensors

    /// Reads the header and every tensor, in file order, without binding them to layers. Plain types view the
    /// mapped file; the block types ModelKit reads (``GGUFTensorType/isReadable``) are dequantized to float32.
    ///
    /// - Throws: ``GGUFError``, ``GGUFError/unsupportedTensorType(source:tensor:type:)`` for any other type.
    public static func readContents(path: String) throws(GGUFError) -> GGUFContents {
        try readContents(storage: try open(path), source: path)
    }

    /// Reads the header and every tensor of a GGUF file held in `storage`.
    ///
    /// - Throws: ``GGUFError``.
    public static func readContents(storage: TensorStorage, source: String) throws(GGUFError) -> GGUFContents {
        let header = try readHeader(storage: storage, source: source)
        var tensors: [ModelTensor] = []
        tensors.reserveCapacity(header.tensors.count)
        for info in header.tensors {
            tensors.append(ModelTensor(name: info.name, tensor: try GGUFTensorDecoder.tensor(info, storage: storage, source: source)))
        }
        return GGUFContents(header: header, tensors: tensors)
    }

    // MARK: - Models

    /// Reads the GGUF file at `path` as a model.
    ///
    /// The layers come from, in order of precedence: `architecture` (bound with ``WeightBinder``, PyTorch's `out_in`
    /// convention for square weights); the file's `modelkit.layers` (files ModelKit wrote); the file's
    /// `modelkit.architecture` string (bound like `architecture`).
    ///
    /// - Parameters:
    ///   - architecture: The `--arch` value; required for files without `modelkit.*` keys.
    ///   - weightLayout: The `--weight-layout` flag: every dense weight is stored this way.
    /// - Throws: ``GGUFError``, including ``GGUFError/needsArchitecture(source:fileArchitecture:tensorCount:)``.
    public static func read(path: String, architecture: Architecture? = nil,
                            weightLayout: WeightLayout? = nil) throws(GGUFError) -> LoadedModel {
        try read(storage: try open(path), source: path, architecture: architecture, weightLayout: weightLayout)
    }

    /// Reads a GGUF file held in `storage` as a model (see ``read(path:architecture:weightLayout:)``).
    ///
    /// - Throws: ``GGUFError``.
    public static func read(storage: TensorStorage, source: String, architecture: Architecture? = nil,
                            weightLayout: WeightLayout? = nil) throws(GGUFError) -> LoadedModel {
        let contents = try readContents(storage: storage, source: source)
        let header = contents.header
        var notes: [String] = []
        let dequantized = header.tensors.filter { $0.type == .q8_0 || $0.type == .q4_0 }
        if !dequantized.isEmpty {
            notes.append("dequantized to float32: " + dequantized.map { "\($0.name) (\($0.type.name))" }.joined(separator: ", "))
        }
        var model: Model
        if let architecture {
            model = try bind(contents, architecture, weightLayout, source, notes: &notes)
        } else if GGUFModelKeys.describesLayers(header) {
            model = try GGUFModelKeys.model(header: header, tensors: contents.tensors.map { ($0.name, $0.tensor) }, source: source)
            if let weightLayout { retag(&model, weightLayout) }
        } else if let text = header[GGUFModelKeys.architecture]?.stringValue {
            let described: Architecture
            do { described = try Architecture(parsing: text) } catch { throw .architecture(source: source, error) }
            notes.append("layers from the file's modelkit.architecture: \(described)")
            model = try bind(contents, described, weightLayout, source, notes: &notes)
        } else {
            throw .needsArchitecture(source: source, fileArchitecture: header.architecture, tensorCount: header.tensors.count)
        }
        var checksums: [String: ChecksumStatus] = [:], encodings: [String: String] = [:], stored: [String: Int] = [:]
        for info in header.tensors where model.tensor(named: info.name) != nil {
            checksums[info.name] = .absent
            encodings[info.name] = info.type.name
            stored[info.name] = info.byteCount
        }
        return LoadedModel(model: model, formatName: "GGUF", formatVersion: "\(header.version)", fileSize: header.fileSize,
                           headerChecksum: .absent, tensorChecksums: checksums, tensorEncodings: encodings,
                           storedBytes: stored, notes: notes)
    }

    // MARK: - Writing

    /// The GGUF v3 bytes of `model` (see ``write(_:to:alignment:)``).
    ///
    /// - Throws: ``GGUFError/cannotWrite(subject:reason:)``.
    public static func encode(_ model: Model, alignment: Int = defaultAlignment) throws(GGUFError) -> [UInt8] {
        try GGUFEncoder(model: model, alignment: alignment).bytes()
    }

    /// Writes `model` to `path` as GGUF v3, atomically: `general.architecture` `modelkit-dense`, `general.name`,
    /// `general.alignment`, the layers in `modelkit.*` keys, and every tensor as stored (dense weights `[out, in]`).
    ///
    /// - Parameter alignment: A power of two from 8 to 65536; 32 (GGUF's default) unless a reader wants 64.
    /// - Throws: ``GGUFError/cannotWrite(subject:reason:)`` for tensors GGUF cannot hold (uint8, bool, more than 4
    ///   dimensions, names over 63 bytes), ``GGUFError/fileAccess(_:)`` on I/O errors (the destination is then untouched).
    public static func write(_ model: Model, to path: String, alignment: Int = defaultAlignment) throws(GGUFError) {
        let encoder = try GGUFEncoder(model: model, alignment: alignment)
        do {
            try AtomicFileWriter.write(to: path) { sink in try encoder.write(to: &sink) }
        } catch let error as FileAccessError {
            throw .fileAccess(error)
        } catch {
            throw .cannotWrite(subject: path, reason: "\(error)")
        }
    }

    // MARK: - Helpers

    private static func open(_ path: String) throws(GGUFError) -> TensorStorage {
        do { return try MappedFile.open(path) } catch { throw .fileAccess(error) }
    }

    private static func bind(_ contents: GGUFContents, _ architecture: Architecture, _ weightLayout: WeightLayout?,
                             _ source: String, notes: inout [String]) throws(GGUFError) -> Model {
        let binding: WeightBinder.Binding
        do {
            binding = try WeightBinder.binding(tensors: contents.tensors, architecture: architecture, sourceFormat: "gguf",
                                               defaultLayout: .outIn, override: weightLayout)
        } catch {
            throw .binding(source: source, error)
        }
        notes.append(contentsOf: binding.notes)
        var model = binding.model
        if let name = contents.header.name, !name.isEmpty { model.info.name = name }
        return model
    }

    /// Declares every dense weight to be stored in `layout` (the `--weight-layout` flag on a file with its own layers).
    private static func retag(_ model: inout Model, _ layout: WeightLayout) {
        let weights = Set(model.layers.filter { $0.kind == .dense }.compactMap { $0.parameters["weight"] })
        model.updateTensors { entry in
            if weights.contains(entry.name) {
                entry.layout = layout
                entry.layoutSource = .declared
            }
        }
    }
}

/// A GGUF file's header and all of its tensors, not bound to layers (``GGUFFormat/readContents(path:)``).
public struct GGUFContents: Sendable {
    /// The file's version, metadata and tensor infos.
    public var header: GGUFHeader
    /// Every tensor in file order, named as in the file, without layout tags; shapes are row-major.
    public var tensors: [ModelTensor]

    /// Pairs a header with its tensors.
    public init(header: GGUFHeader, tensors: [ModelTensor]) {
        self.header = header
        self.tensors = tensors
    }
}
