import ModelKitCore
import ModelKitFormat

/// Reads and writes safetensors files (Hugging Face's tensor container; Specs/interop/safetensors.md).
///
/// Reading memory-maps the file and checks the header with every rule of the reference reader before any tensor
/// is made; tensors are views of the mapped bytes. A `model.safetensors.index.json` (a sharded checkpoint) is read
/// with all its shards. safetensors holds weights only, so a model needs an ``Architecture``: the caller's
/// (`--arch`), or the `modelkit.architecture` metadata ModelKit writes into its own exports.
///
/// Writing produces what `safetensors.torch.save_file(model.state_dict())` would for the matching PyTorch
/// `nn.Sequential`: names `0.weight`, `0.bias`, `2.weight`, …, weights `[out, in]`, so that
/// `model.load_state_dict(load_file(path), strict=True)` works.
///
/// ```swift
/// let architecture = try Architecture(parsing: "linear(400,200) relu linear(200,100) relu linear(100,2) softmax")
/// let loaded = try SafetensorsFormat.read(path: "model.safetensors", architecture: architecture)
/// try SafetensorsFormat.write(loaded.model, to: "copy.safetensors")
/// ```
public enum SafetensorsFormat {
    /// The name of the format in load reports.
    public static let formatName = "safetensors"

    /// Metadata key holding the architecture's JSON list form, in files ModelKit writes.
    public static let architectureKey = "modelkit.architecture"
    /// Metadata key holding the weights' layout (`out_in`), in files ModelKit writes.
    public static let layoutKey = "modelkit.layout"

    /// Reads a model from a `.safetensors` file or a sharded checkpoint's `….index.json`.
    ///
    /// - Parameters:
    ///   - architecture: how the tensors connect (`--arch`); when `nil`, the file's `modelkit.architecture`.
    ///   - weightLayout: the user's `--weight-layout`; when `nil`, the file's `modelkit.layout`, else PyTorch's
    ///     `out_in` for square weights and the shape for the others.
    /// - Throws: ``SafetensorsError`` with the file, the tensor and the fix.
    public static func read(path: String, architecture: Architecture? = nil,
                            weightLayout: WeightLayout? = nil) throws(SafetensorsError) -> LoadedModel {
        let contents = try readContents(path: path)
        var metadata = contents.metadata
        let storedArchitecture = metadata.removeValue(forKey: architectureKey)
        let storedLayout = metadata.removeValue(forKey: layoutKey)
        var notes: [String] = []

        let chosen: Architecture
        if let architecture {
            chosen = architecture
            if let storedArchitecture, let stored = try? Architecture(jsonText: storedArchitecture), stored != architecture {
                notes.append("the file's own architecture (\(stored)) differs from the one given; using the one given")
            }
        } else if let storedArchitecture {
            do { chosen = try Architecture(jsonText: storedArchitecture, source: architectureKey) } catch {
                throw .invalidArchitecture(path: path, error)
            }
            notes.append("architecture from the file's \(architectureKey) metadata: \(chosen)")
        } else {
            throw .missingArchitecture(path: path, suggestion: suggestArchitecture(contents.tensors))
        }

        var override = weightLayout
        if override == nil, let storedLayout {
            guard let layout = WeightLayout(name: storedLayout) else {
                throw .invalidMetadata(path: path, reason: "\(layoutKey) is \(MessageText.quoted(storedLayout)), not out_in or in_out")
            }
            override = layout
        }
        let binding: WeightBinder.Binding
        do {
            binding = try WeightBinder.binding(tensors: contents.tensors, architecture: chosen, sourceFormat: "safetensors",
                                               defaultLayout: .outIn, override: override)
        } catch {
            throw .binding(path: path, error)
        }
        var model = binding.model
        model.info.name = stem(of: path)
        model.info.producer = producer(metadata: metadata, storedArchitecture: storedArchitecture != nil)
        model.info.metadata = metadata
        notes += binding.notes
        for tensor in model.tensors where tensor.tensor.hasNonFiniteValues {
            notes.append("tensor \(MessageText.quoted(tensor.name)) contains NaN or infinite values")
        }
        var encodings: [String: String] = [:]
        var stored: [String: Int] = [:]
        for tensor in model.tensors {
            encodings[tensor.name] = "raw"
            stored[tensor.name] = tensor.tensor.byteCount
        }
        return LoadedModel(model: model, formatName: formatName, formatVersion: "", fileSize: contents.fileSize,
                           headerChecksum: .absent, tensorEncodings: encodings, storedBytes: stored, notes: notes)
    }

    /// Reads every tensor and the `__metadata__` of a `.safetensors` file (or of all shards of a `….index.json`),
    /// in data order, without binding them to layers. Tensors view the memory-mapped file.
    ///
    /// - Throws: ``SafetensorsError``.
    public static func readTensors(path: String) throws(SafetensorsError) -> (tensors: [ModelTensor], metadata: [String: String]) {
        let contents = try readContents(path: path)
        return (contents.tensors, contents.metadata)
    }

    /// Reads the tensors and metadata of safetensors bytes held in `storage` (a mapped file, or bytes in memory);
    /// `name` stands for the file in errors.
    ///
    /// - Throws: ``SafetensorsError``.
    public static func readTensors(storage: TensorStorage, name: String) throws(SafetensorsError) -> (tensors: [ModelTensor], metadata: [String: String]) {
        let header = try SafetensorsHeader.parse(storage.bytes, path: name)
        var tensors: [ModelTensor] = []
        tensors.reserveCapacity(header.entries.count)
        for entry in header.entries {
            do {
                let tensor = try Tensor(dtype: entry.dtype, shape: entry.shape, storage: storage, byteOffset: header.dataStart + entry.begin)
                tensors.append(ModelTensor(name: entry.name, tensor: tensor))
            } catch {
                // The header checks make this unreachable; a typed error keeps it from ever trapping.
                throw .invalidEntry(path: name, tensor: entry.name, reason: error.description)
            }
        }
        return (tensors, header.metadata)
    }

    /// Writes `model` as PyTorch would save the matching `nn.Sequential`'s `state_dict`: names `<module index>.weight`
    /// and `.bias`, weights `[out, in]` (in_out weights are transposed), with `__metadata__` `format: pt`,
    /// `modelkit.architecture` and `modelkit.layout` so that ModelKit reads it back without `--arch`. Atomic.
    ///
    /// - Throws: ``SafetensorsError/cannotWrite(path:reason:)`` when the model is not a chain of dense layers and
    ///   activations, or the file system's error.
    public static func write(_ model: Model, to path: String) throws {
        let (tensors, architecture): ([ModelTensor], Architecture)
        do { (tensors, architecture) = try StateDictExport.tensors(of: model) } catch {
            throw SafetensorsError.cannotWrite(path: path, reason: error.description)
        }
        var metadata = model.info.metadata
        metadata["format"] = "pt"
        metadata[architectureKey] = architecture.jsonText
        metadata[layoutKey] = WeightLayout.outIn.rawValue
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    /// Writes tensors as they are (no renaming or transposing) with `metadata`, laid out as the reference writer
    /// does: sorted by dtype alignment then name, header padded with spaces to a multiple of 8. Atomic.
    ///
    /// - Throws: ``SafetensorsError/cannotWrite(path:reason:)`` for duplicate names, or the file system's error.
    public static func writeTensors(_ tensors: [ModelTensor], metadata: [String: String], to path: String) throws {
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    // MARK: - Helpers

    /// What a file or a sharded checkpoint holds.
    struct Contents {
        var tensors: [ModelTensor]
        var metadata: [String: String]
        var fileSize: Int
    }

    static func readContents(path: String) throws(SafetensorsError) -> Contents {
        if path.lowercased().hasSuffix(".json") { return try SafetensorsIndex.read(path: path) }
        return try readFile(path: path)
    }

    static func readFile(path: String) throws(SafetensorsError) -> Contents {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .cannotOpen(error) }
        let (tensors, metadata) = try readTensors(storage: storage, name: path)
        return Contents(tensors: tensors, metadata: metadata, fileSize: storage.bytes.count)
    }

    /// The file name without folder and extension (`model.safetensors.index.json` → `model`).
    static func stem(of path: String) -> String {
        var name = Substring(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".json", ".index", ".safetensors"] where name.lowercased().hasSuffix(suffix) {
            name = name.dropLast(suffix.count)
        }
        return name.isEmpty ? "model" : String(name)
    }

    /// Who wrote the file, from the `format` metadata the framework bindings set.
    static func producer(metadata: [String: String], storedArchitecture: Bool) -> String {
        if storedArchitecture { return "modelkit (safetensors export)" }
        switch metadata["format"] {
        case "pt": return "PyTorch (safetensors)"
        case "tf": return "TensorFlow (safetensors)"
        case "flax": return "Flax (safetensors)"
        case "mlx": return "MLX (safetensors)"
        case "np": return "NumPy (safetensors)"
        case let other?: return "safetensors (format \(other))"
        case nil: return "safetensors"
        }
    }

    /// A `--arch` value with the linear sizes the weights' shapes give, when they chain (activations are an example).
    static func suggestArchitecture(_ tensors: [ModelTensor]) -> String? {
        let named = tensors.allSatisfy { TensorNaming.parse($0.name) != nil }
        let matrices = tensors.filter { $0.tensor.shape.rank == 2 && (!named || TensorNaming.parse($0.name)?.role.isWeight == true) }
            .sorted { TensorNaming.naturallyPrecedes($0.name, $1.name) }
        guard !matrices.isEmpty else { return nil }
        for layout in [WeightLayout.outIn, .inOut] {
            let sizes = matrices.map { layout.features(rows: $0.tensor.shape.dimensions[0], columns: $0.tensor.shape.dimensions[1]) }
            if zip(sizes, sizes.dropFirst()).allSatisfy({ $0.output == $1.input }) {
                return sizes.map { "linear(\($0.input),\($0.output))" }.joined(separator: " relu ")
            }
        }
        return nil
    }
}
