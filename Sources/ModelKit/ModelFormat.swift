import ModelKitCore
import ModelKitFormat
import ModelKitInterop

/// The model file formats ModelKit reads and writes.
///
/// Inputs are recognised by their content (``detect(path:)``), never by their name; outputs are chosen by
/// extension (``init(outputPath:)``).
public enum ModelFormat: String, Sendable, CaseIterable {
    /// ModelKit binary (`.mkit`).
    case mkit
    /// ModelKit JSON form (`.json`).
    case modelKitJSON = "json"
    /// ONNX (`.onnx`).
    case onnx
    /// safetensors (`.safetensors`, or a sharded checkpoint's `….safetensors.index.json`). Weights only.
    case safetensors
    /// NumPy `.npz` archive of weights, named and laid out as a PyTorch `state_dict`. Weights only.
    case npz
    /// PyTorch `torch.save` zip archive of a `state_dict` (`.pt`, `.pth`). Weights only.
    case pytorch = "pt"
    /// Keras 3 `.keras` archive.
    case keras
    /// Legacy Keras HDF5 (`.h5`).
    case kerasH5 = "h5"
    /// GGUF v3 (`.gguf`).
    case gguf

    /// A short human name.
    public var displayName: String {
        switch self {
        case .mkit: "ModelKit binary (.mkit)"
        case .modelKitJSON: "ModelKit JSON (.json)"
        case .onnx: "ONNX"
        case .safetensors: "safetensors"
        case .npz: "NumPy .npz"
        case .pytorch: "PyTorch .pt"
        case .keras: "Keras .keras"
        case .kerasH5: "Keras .h5"
        case .gguf: "GGUF"
        }
    }

    /// Whether the format stores weights without layers, so that reading needs an architecture (`--arch`) unless
    /// ModelKit wrote the file.
    public var isWeightsOnly: Bool { [.safetensors, .npz, .pytorch, .gguf].contains(self) }

    /// The extensions that name this format as an output.
    public var extensions: [String] {
        switch self {
        case .mkit: ["mkit"]
        case .modelKitJSON: ["json"]
        case .onnx: ["onnx"]
        case .safetensors: ["safetensors"]
        case .npz: ["npz"]
        case .pytorch: ["pt", "pth"]
        case .keras: ["keras"]
        case .kerasH5: ["h5", "hdf5"]
        case .gguf: ["gguf"]
        }
    }

    /// The output format `path`'s extension names, or `nil`.
    public init?(outputPath path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let ext = name[name.index(after: dot)...].lowercased()
        guard let format = Self.allCases.first(where: { $0.extensions.contains(ext) }) else { return nil }
        self = format
    }

    /// Every output extension, for messages: `.mkit, .json, .onnx, …`.
    public static var outputExtensionList: String {
        allCases.flatMap(\.extensions).map { "." + $0 }.joined(separator: ", ")
    }

    /// Recognises the model file at `path` by its content.
    ///
    /// - Throws: ``ModelFileError`` when the file cannot be read or is not a model file, saying what it looks like
    ///   (a git-lfs pointer, an HTML page, plain text, …).
    public static func detect(path: String) throws -> ModelFormat {
        let storage = try MappedFile.open(path)
        let detected = FileSniffer.detect(UnsafeRawBufferPointer(rebasing: storage.bytes.prefix(65_536)))
        switch detected {
        case .mkit, .mkitTextModeDamaged: return .mkit
        case .modelKitJSON: return .modelKitJSON
        case .json:
            if path.lowercased().hasSuffix(".index.json") { return .safetensors }
            return .modelKitJSON  // its reader explains what is missing
        case .safetensors: return .safetensors
        case .gguf: return .gguf
        case .hdf5: return .kerasH5
        case .pickle: return .pytorch  // the legacy format: its reader says how to re-save the file
        case .zip:
            if PyTorchFormat.recognizes(path: path) { return .pytorch }
            if let archive = try? ZipArchive.open(path),
               archive.members.contains(where: { $0.name == "config.json" }),
               archive.members.contains(where: { $0.name.hasSuffix(".weights.h5") || $0.name == "model.weights.h5" }) {
                return .keras
            }
            return .npz
        case .unknown:
            if ONNXFormat.looksLikeONNX(UnsafeRawBufferPointer(rebasing: storage.bytes.prefix(64))) { return .onnx }
            throw ModelFileError(.notThisFormat, "the file is unrecognised binary data, not a model file ModelKit "
                                 + "reads (\(Self.allCases.map(\.displayName).joined(separator: ", ")))", path: path)
        case .gitLFSPointer, .html, .text, .empty, .numpy:
            throw ModelFileError(.notThisFormat, "the file is \(Self.article(detected.rawValue)) \(detected.rawValue), "
                                 + "not a model file", path: path)
        }
    }

    private static func article(_ text: String) -> String {
        guard let first = text.lowercased().first else { return "a" }
        return "aeiou".contains(first) ? "an" : "a"
    }
}
