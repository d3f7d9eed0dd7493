import Foundation
import ModelKitCore
import ModelKitFormat

extension ModelIO {
    /// The files a model folder is expected to hold, in the order they are preferred: Hugging Face's names for a
    /// sharded and a single safetensors checkpoint, PyTorch's, then one file of any format ModelKit reads.
    static let preferredModelFiles = ["model.safetensors.index.json", "model.safetensors", "pytorch_model.bin",
                                      "model.pt", "model.pth", "model.onnx", "model.keras", "model.mkit"]

    /// Extensions of the files ModelKit reads as models.
    static let modelExtensions: Set<String> = ["mkit", "onnx", "safetensors", "npz", "pt", "pth", "bin", "keras", "h5", "gguf"]

    /// `path` itself when it is not a folder; for a folder (a downloaded model repository), the one model file in
    /// it: `model.safetensors.index.json`, `model.safetensors`, `pytorch_model.bin`, … when present, else the only
    /// file with a model extension. `note` says which file was chosen.
    ///
    /// ```swift
    /// let (file, note) = try ModelIO.resolveModelPath("Fixtures/models/safetensors/sharded")
    /// ```
    ///
    /// - Throws: ``ModelFileError`` when the folder holds no model file, or several without a preferred one (the
    ///   message lists them).
    public static func resolveModelPath(_ path: String) throws -> (path: String, note: String?) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return (path, nil)
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            throw ModelFileError(.io, "cannot list the folder: \(error.localizedDescription)", path: path)
        }
        let folder = path.hasSuffix("/") ? String(path.dropLast()) : path
        if let preferred = preferredModelFiles.first(where: names.contains) {
            return (folder + "/" + preferred, "\(folder) is a folder; reading \(preferred)")
        }
        let models = names.filter { name in
            guard let dot = name.lastIndex(of: "."), !name.hasPrefix(".") else { return false }
            return modelExtensions.contains(name[name.index(after: dot)...].lowercased())
        }
        switch models.count {
        case 1:
            return (folder + "/" + models[0], "\(folder) is a folder; reading \(models[0]), the one model file in it")
        case 0:
            throw ModelFileError(.invalidRequest, "is a folder with no model file in it (\(names.count) entries); "
                                 + "pass the model file itself", path: path)
        default:
            let list = MessageText.list(models.map { MessageText.quoted($0) })
            throw ModelFileError(.invalidRequest, "is a folder with \(models.count) model files (\(list)); pass the one "
                                 + "to read", path: path)
        }
    }
}
