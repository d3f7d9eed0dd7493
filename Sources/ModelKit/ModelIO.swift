import ModelKitCore
import ModelKitFormat
import ModelKitInterop

/// Loads and saves models in every supported format, picking the reader by the file's content and the writer by
/// the output's extension.
///
/// ```swift
/// let loaded = try ModelIO.load("Fixtures/models/example/example.mkit")
/// try ModelIO.save(loaded.model, to: "example.json")
/// ```
public enum ModelIO {
    /// Options for reading a model.
    public struct LoadOptions: Sendable {
        public var checksums: ChecksumPolicy
        /// Re-tag every dense weight with this layout (the `--weight-layout` flag).
        public var weightLayout: WeightLayout?
        /// The architecture of a weight-only file (the `--arch` flag).
        public var architecture: Architecture?
        /// In a PyTorch checkpoint dict, the key holding the state dict (the `--key` flag).
        public var stateDictKey: String?
        /// In an ONNX graph with several outputs, the one to compute (the `--output-name` flag).
        public var outputName: String?

        public init(checksums: ChecksumPolicy = .enforce, weightLayout: WeightLayout? = nil, architecture: Architecture? = nil,
                    stateDictKey: String? = nil, outputName: String? = nil) {
            self.checksums = checksums
            self.weightLayout = weightLayout
            self.architecture = architecture
            self.stateDictKey = stateDictKey
            self.outputName = outputName
        }
    }

    /// The output formats, by extension (kept for source compatibility; ``ModelFormat`` lists them all).
    public typealias OutputFormat = ModelFormat

    /// Reads the model at `path`, recognising its format by content.
    ///
    /// Weight-only formats (safetensors, `.npz`, `.pt`, GGUF without ModelKit's keys) need
    /// ``LoadOptions/architecture``; files ModelKit wrote carry their own.
    ///
    /// - Throws: the format's typed error (``ModelFileError``, `ONNXError`, `SafetensorsError`, …), one line that
    ///   names the file and says what to do.
    public static func load(_ path: String, options: LoadOptions = LoadOptions()) throws -> LoadedModel {
        let format = try ModelFormat.detect(path: path)
        try checkApplicable(options, to: format, path: path)
        var loaded = try read(path, format: format, options: options)
        // Non-finite weights are a warning, not an error (Specs/security.md); the .mkit, JSON, safetensors and Keras
        // readers note them themselves.
        if [.onnx, .npz, .pytorch, .gguf].contains(format) {
            for tensor in loaded.model.tensors where tensor.tensor.hasNonFiniteValues {
                loaded.notes.append("tensor \(MessageText.quoted(tensor.name)) contains NaN or infinite values")
            }
        }
        return loaded
    }

    private static func read(_ path: String, format: ModelFormat, options: LoadOptions) throws -> LoadedModel {
        switch format {
        case .mkit, .modelKitJSON:
            var loaded = try ModelFile.read(path: path, checksums: options.checksums)
            if let layout = options.weightLayout { loaded.model.retagDenseWeights(layout) }
            return loaded
        case .onnx:
            return try ONNXFormat.read(path: path, outputName: options.outputName)
        case .safetensors:
            return try SafetensorsFormat.read(path: path, architecture: options.architecture, weightLayout: options.weightLayout)
        case .npz:
            return try NumPyWeights.read(path: path, architecture: options.architecture, weightLayout: options.weightLayout)
        case .pytorch:
            return try PyTorchFormat.read(path: path, key: options.stateDictKey, architecture: options.architecture,
                                          weightLayout: options.weightLayout)
        case .gguf:
            return try GGUFFormat.read(path: path, architecture: options.architecture, weightLayout: options.weightLayout)
        case .keras, .kerasH5:
            return try KerasBridge.read(path: path, format: format)
        }
    }

    /// Refuses flags that do not apply to `format`, rather than silently ignoring them.
    static func checkApplicable(_ options: LoadOptions, to format: ModelFormat, path: String) throws {
        func refuse(_ flag: String, _ reason: String) throws {
            throw ModelFileError(.invalidRequest, "\(flag) does not apply to \(format.displayName) files: \(reason)", path: path)
        }
        if options.architecture != nil && !format.isWeightsOnly {
            try refuse("--arch", "the file describes its own layers")
        }
        if options.stateDictKey != nil && format != .pytorch { try refuse("--key", "it selects a state dict in a PyTorch checkpoint") }
        if options.outputName != nil && format != .onnx { try refuse("--output-name", "it selects an output of an ONNX graph") }
        if options.weightLayout != nil && [.onnx, .keras, .kerasH5].contains(format) {
            try refuse("--weight-layout", "the file's graph says how each weight is used")
        }
    }

    /// Options for writing a model.
    public struct SaveOptions: Sendable {
        /// Store `.mkit` tensors compressed (`shuffle-zlib`, format 1.1) at this level; `nil` writes raw.
        public var compression: Zlib.Level?
        /// Convert floating-point tensors to this dtype before writing (`--dtype`); `nil` keeps them.
        public var dtype: DType?

        public init(compression: Zlib.Level? = nil, dtype: DType? = nil) {
            self.compression = compression
            self.dtype = dtype
        }
    }

    /// Writes `model` to `path` in the format its extension names, atomically.
    ///
    /// Weight-only formats (`.safetensors`, `.npz`, `.pt`) are written as the matching PyTorch `nn.Sequential`'s
    /// `state_dict` (names `0.weight`, …, weights `[out, in]`).
    ///
    /// - Throws: ``ModelFileError`` when the extension is unknown or an option does not apply, the format's error
    ///   when the model cannot be written in it, or the file system's error.
    public static func save(_ model: Model, to path: String, options: SaveOptions = SaveOptions()) throws {
        guard let format = ModelFormat(outputPath: path) else {
            throw ModelFileError(.invalidRequest, "cannot tell the output format from the extension; use one of: \(ModelFormat.outputExtensionList)", path: path)
        }
        if options.compression != nil && format != .mkit {
            throw ModelFileError(.invalidRequest, "compression applies to .mkit output only", path: path)
        }
        var model = model
        if let dtype = options.dtype { model = try model.convertingFloatingPointTensors(to: dtype) }
        switch format {
        case .mkit: try MKitWriter.write(model, to: path, compression: options.compression)
        case .modelKitJSON: try ModelFile.write(model, to: path, form: .json)
        case .onnx: try ONNXFormat.write(model, to: path, producerVersion: ModelKitVersion.string)
        case .safetensors: try SafetensorsFormat.write(model, to: path)
        case .npz: try NumPyWeights.write(model, to: path)
        case .pytorch: try PyTorchFormat.write(model, to: path)
        case .gguf: try GGUFFormat.write(model, to: path)
        case .keras, .kerasH5: try KerasBridge.write(model, to: path)
        }
    }
}

/// The library's version, written into the files it produces.
public enum ModelKitVersion {
    /// `0.1.0`.
    public static let string = "0.1.0"
}

extension Model {
    /// Declares every dense weight to be stored in `layout` (the bytes are unchanged; only the tag is).
    public mutating func retagDenseWeights(_ layout: WeightLayout) {
        let weightNames = Set(layers.filter { $0.kind == .dense }.compactMap { $0.parameters["weight"] })
        updateTensors { entry in
            if weightNames.contains(entry.name) {
                entry.layout = layout
                entry.layoutSource = .declared
            }
        }
    }
}
