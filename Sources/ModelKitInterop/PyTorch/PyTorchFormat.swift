import ModelKitCore
import ModelKitFormat

/// Reads and writes PyTorch `torch.save` files (the zip format, torch ≥ 1.6) holding a `state_dict` or a checkpoint
/// dict, without Python and without running anything from the file.
///
/// The pickle inside is read by our own restricted unpickler: only tensors and containers, an allowlist of globals
/// in the spirit of `torch.load(weights_only=True)`, and every other global refused by name (Specs/interop/pytorch.md).
/// Tensors that are contiguous in a little-endian archive are viewed in the memory-mapped file without a copy.
///
/// ```swift
/// for entry in try PyTorchFormat.listKeys(path: "checkpoint.pt") { print(entry.key, entry.summary) }
/// let tensors = try PyTorchFormat.readStateDict(path: "checkpoint.pt", key: "model")
/// let loaded = try PyTorchFormat.read(path: "weights.pt", architecture: try Architecture(parsing: "linear(4,3) relu linear(3,2)"))
/// try PyTorchFormat.write(loaded.model, to: "copy.pt")   // torch.load(..., weights_only=True) reads it
/// ```
public enum PyTorchFormat {
    /// The short format name used in load reports.
    public static let formatName = "PyTorch state dict (torch.save zip)"

    /// The tensors of the state dict in the file at `path`, in file order, named as in the state dict (`0.weight`).
    ///
    /// - Parameters:
    ///   - path: A `torch.save` zip archive.
    ///   - key: A dotted key path to the state dict inside a checkpoint dict (`model`, `state_dict`,
    ///     `optimizer.state.0`). `nil` takes the top level, or the only dict of tensors among its values.
    /// - Returns: Each tensor as a ``ModelTensor`` without a layout (a weight's layout is decided when it is bound
    ///   to a layer); contiguous little-endian tensors view the mapped file.
    /// - Throws: ``PyTorchError``: unreadable or unsafe archives, refused globals, legacy or TorchScript files (with
    ///   how to re-save them), missing or too small storages, a key path that leads nowhere or not to tensors.
    public static func readStateDict(path: String, key: String? = nil) throws(PyTorchError) -> [ModelTensor] {
        try loadStateDict(path: path, key: key).tensors
    }

    /// The top-level entries of the file at `path`, each with a one-line summary of what it holds
    /// (`state dict: 6 tensors (float32), 100502 values`, `dict of 2 entries ('state', 'param_groups')`,
    /// `integer 3`, `float 0.25`, `tensor float32 [3]`). No tensor data is read.
    ///
    /// A file whose top level is a list or tuple lists its items by index; any other value gives one entry with an
    /// empty key.
    ///
    /// - Throws: ``PyTorchError`` as ``readStateDict(path:key:)`` does for the archive and its pickle.
    public static func listKeys(path: String) throws(PyTorchError) -> [(key: String, summary: String)] {
        TorchStateDict.listing(try TorchArchive.open(path))
    }

    /// Reads the file at `path` as a model.
    ///
    /// The state dict's tensors are bound to the layers of `architecture` (``WeightBinder``, PyTorch's `[out, in]`
    /// convention for square weights; `weightLayout` overrides it). Without `architecture`, the one ModelKit
    /// embeds in its own exports is used; a state dict without one is an error that suggests an `--arch` value
    /// with the sizes its weights give (``readStateDict(path:key:)`` reads the tensors alone).
    ///
    /// - Parameters:
    ///   - key: The key path of the state dict in a checkpoint (see ``readStateDict(path:key:)``).
    ///   - architecture: The layers (the `--arch` value).
    ///   - weightLayout: How every dense weight is stored (the `--weight-layout` flag); `nil` decides by shape.
    /// - Throws: ``PyTorchError``, including ``PyTorchError/missingArchitecture(path:suggestion:)`` and
    ///   ``PyTorchError/binding(path:_:)`` when the tensors do not fit the architecture.
    public static func read(path: String, key: String? = nil, architecture: Architecture? = nil,
                            weightLayout: WeightLayout? = nil) throws(PyTorchError) -> LoadedModel {
        let loaded = try loadStateDict(path: path, key: key)
        var notes = loaded.notes
        var chosen = architecture
        if chosen == nil, let embedded = loaded.embeddedArchitecture {
            do { chosen = try Architecture(jsonText: embedded, source: "\(path) (_metadata['modelkit'])") } catch {
                throw .architecture(path: path, error)
            }
            notes.append("architecture from the file (written by ModelKit): \(chosen.map(\.description) ?? "")")
        }
        guard let chosen else {
            throw .missingArchitecture(path: path, suggestion: suggestedArchitecture(loaded.tensors))
        }
        var model: Model
        do {
            let binding = try WeightBinder.binding(tensors: loaded.tensors, architecture: chosen, sourceFormat: "pytorch",
                                                   defaultLayout: .outIn, override: weightLayout)
            model = binding.model
            notes += binding.notes
        } catch {
            throw .binding(path: path, error)
        }
        model.info.name = modelName(path)
        model.info.producer = loaded.embeddedArchitecture == nil ? "torch.save" : "ModelKit (torch.save layout)"
        var checksums: [String: ChecksumStatus] = [:]
        var encodings: [String: String] = [:]
        var stored: [String: Int] = [:]
        for tensor in loaded.tensors {
            checksums[tensor.name] = .ok  // the storage record's CRC-32 was verified
            encodings[tensor.name] = "raw"
            stored[tensor.name] = tensor.tensor.byteCount
        }
        return LoadedModel(model: model, formatName: formatName, formatVersion: loaded.version ?? "unknown",
                           fileSize: loaded.fileSize, tensorChecksums: checksums, tensorEncodings: encodings,
                           storedBytes: stored, notes: notes)
    }

    /// Writes `model` as the `state_dict()` of the matching `nn.Sequential`, in the zip layout `torch.save` writes,
    /// atomically.
    ///
    /// Names are `<module index>.weight` / `.bias` (`0.weight`, `0.bias`, `2.weight`, … for `linear relu linear`);
    /// weights are `[out, in]` (weights stored `in_out` are transposed) in their stored dtype (float32, float16,
    /// bfloat16, float64). `torch.load(path, weights_only=True)` reads the file and
    /// `nn.Sequential(...).load_state_dict(state, strict=True)` accepts it. The architecture is recorded in the
    /// state dict's `_metadata`, so ``read(path:key:architecture:weightLayout:)`` rebuilds the layers.
    ///
    /// - Throws: ``PyTorchError/cannotExport(path:reason:)`` when the model is not a chain of dense layers and
    ///   activations, ``PyTorchError/fileAccess(_:)``.
    public static func write(_ model: Model, to path: String) throws(PyTorchError) {
        try TorchStateDictWriter.write(model, to: path)
    }

    /// Whether the file at `path` is a `torch.save` (or TorchScript) zip archive; reads only the zip's directory.
    /// A format sniffer uses this to tell a `.pt` from an `.npz` or a `.keras` zip.
    public static func recognizes(path: String) -> Bool {
        guard let storage = try? MappedFile.open(path) else { return false }
        return TorchArchive.recognizes(storage)
    }

    // MARK: - Internals

    struct LoadedStateDict {
        var tensors: [ModelTensor]
        var notes: [String]
        var embeddedArchitecture: String?
        var version: String?
        var fileSize: Int
    }

    static func loadStateDict(path: String, key: String?) throws(PyTorchError) -> LoadedStateDict {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .fileAccess(error) }
        return try loadStateDict(storage: storage, path: path, key: key)
    }

    /// Reads the state dict of the file held in `storage`; `path` names it in errors.
    static func loadStateDict(storage: TensorStorage, path: String, key: String?) throws(PyTorchError) -> LoadedStateDict {
        let archive = try TorchArchive.open(storage: storage, path: path)
        let stateDict = try TorchStateDict(archive: archive, key: key)
        var reader = TorchTensorReader(archive: archive)
        var tensors: [ModelTensor] = []
        for entry in stateDict.entries {
            tensors.append(ModelTensor(name: entry.name, tensor: try reader.tensor(entry.tensor, name: entry.name)))
        }
        var notes: [String] = []
        if let note = stateDict.note { notes.append(note) }
        if archive.byteOrder == .big { notes.append("the archive is big-endian; its tensors were byte-swapped") }
        return LoadedStateDict(tensors: tensors, notes: notes, embeddedArchitecture: stateDict.embeddedArchitecture,
                               version: archive.version, fileSize: archive.fileSize)
    }

    /// An `--arch` value with the linear sizes the weight matrices give in natural name order (`[out, in]`, as
    /// PyTorch stores them), when they chain; the activations are only an example.
    static func suggestedArchitecture(_ tensors: [ModelTensor]) -> String? {
        let weights = tensors.filter { tensor in
            tensor.tensor.shape.rank == 2 && (TensorNaming.parse(tensor.name).map { $0.role.isWeight } ?? true)
        }.sorted { TensorNaming.naturallyPrecedes($0.name, $1.name) }
        guard !weights.isEmpty else { return nil }
        let sizes = weights.map { (input: $0.tensor.shape.dimensions[1], output: $0.tensor.shape.dimensions[0]) }
        guard zip(sizes, sizes.dropFirst()).allSatisfy({ $0.output == $1.input }) else { return nil }
        return sizes.map { "linear(\($0.input),\($0.output))" }.joined(separator: " relu ")
    }

    /// The file's name without directories and extension.
    private static func modelName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }
}
