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

    /// The output formats, by extension.
    public enum OutputFormat: String, Sendable, CaseIterable {
        case mkit, json

        /// The format `path`'s extension names, or `nil`.
        public init?(path: String) {
            guard let form = ModelFile.Form(path: path) else { return nil }
            self = form == .binary ? .mkit : .json
        }
    }

    /// Reads the model at `path`.
    ///
    /// - Throws: ``ModelFileError`` with the path and a one-line reason.
    public static func load(_ path: String, options: LoadOptions = LoadOptions()) throws -> LoadedModel {
        var loaded = try ModelFile.read(path: path, checksums: options.checksums)
        if let layout = options.weightLayout { loaded.model.retagDenseWeights(layout) }
        return loaded
    }

    /// Options for writing a model.
    public struct SaveOptions: Sendable {
        /// Store `.mkit` tensors compressed (`shuffle-zlib`, format 1.1) at this level; `nil` writes raw.
        public var compression: Zlib.Level?

        public init(compression: Zlib.Level? = nil) { self.compression = compression }
    }

    /// Writes `model` to `path` in the format its extension names, atomically.
    ///
    /// - Throws: ``ModelFileError`` when the extension is unknown or an option does not apply, or the file system's error.
    public static func save(_ model: Model, to path: String, options: SaveOptions = SaveOptions()) throws {
        guard let format = OutputFormat(path: path) else {
            throw ModelFileError(.invalidRequest, "cannot tell the output format from the extension; use one of: \(OutputFormat.allCases.map { "." + $0.rawValue }.joined(separator: ", "))", path: path)
        }
        if options.compression != nil && format != .mkit {
            throw ModelFileError(.invalidRequest, "compression applies to .mkit output only", path: path)
        }
        switch format {
        case .mkit: try MKitWriter.write(model, to: path, compression: options.compression)
        case .json: try ModelFile.write(model, to: path, form: .json)
        }
    }
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
