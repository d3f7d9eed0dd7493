import ModelKitCore
import ModelKitFormat

/// `.npz` archives as weight files: one array per tensor, named and laid out as a PyTorch `state_dict`
/// (`0.weight` `[out, in]`, `0.bias`, `2.weight`, …), the form `np.savez(path, **{k: v.numpy() for k, v in
/// model.state_dict().items()})` gives.
///
/// An `.npz` has no room for layers, so reading needs an ``Architecture`` (the `--arch` flag); tensors bind to its
/// layers as for safetensors (``WeightBinder``; PyTorch's `[out, in]` convention for square weights).
///
/// ```swift
/// try NumPyWeights.write(model, to: "weights.npz")
/// let loaded = try NumPyWeights.read(path: "weights.npz", architecture: try Architecture(parsing: "linear(4,3) relu linear(3,2)"))
/// ```
public enum NumPyWeights {
    /// The format name in load reports.
    public static let formatName = "NumPy .npz (weights)"

    /// Reads the arrays of the `.npz` at `path` and binds them to `architecture`.
    ///
    /// - Parameters:
    ///   - architecture: The layers (`--arch`); required.
    ///   - weightLayout: How every dense weight is stored (`--weight-layout`); `nil` decides by shape, and square
    ///     weights by PyTorch's `[out, in]` convention.
    /// - Throws: ``ModelFileError`` for a missing architecture (suggesting one from the shapes) or weights that do
    ///   not fit it (naming the layer, tensor and both shapes), or ``NumPyError`` for a bad archive.
    public static func read(path: String, architecture: Architecture?, weightLayout: WeightLayout? = nil) throws -> LoadedModel {
        let arrays = try NumPyFile.readArchive(path: path)
        let tensors = arrays.map { ModelTensor(name: $0.name, tensor: $0.tensor) }
        guard let architecture else {
            let hint = SafetensorsFormat.suggestArchitecture(tensors).map { ", e.g. --arch \"\($0)\"" } ?? ""
            throw ModelFileError(.invalidRequest, "an .npz holds weights without layers (\(tensors.count) arrays); "
                                 + "pass --arch with the layers\(hint)", path: path)
        }
        let binding: WeightBinder.Binding
        do {
            binding = try WeightBinder.binding(tensors: tensors, architecture: architecture, sourceFormat: "numpy",
                                               defaultLayout: .outIn, override: weightLayout)
        } catch {
            throw ModelFileError(.invalidRequest, error.description, path: path)
        }
        var model = binding.model
        model.info.name = stem(of: path)
        model.info.producer = "numpy (.npz)"
        var encodings: [String: String] = [:]
        var stored: [String: Int] = [:]
        for tensor in model.tensors {
            encodings[tensor.name] = "raw"
            stored[tensor.name] = tensor.tensor.byteCount
        }
        let fileSize = (try? MappedFile.open(path).bytes.count) ?? 0
        return LoadedModel(model: model, formatName: formatName, formatVersion: "", fileSize: fileSize,
                           tensorEncodings: encodings, storedBytes: stored, notes: binding.notes)
    }

    /// Writes `model`'s weights as a `.npz` in PyTorch's names and `[out, in]` layout (stored members, like
    /// `np.savez`), atomically.
    ///
    /// - Throws: ``ModelFileError`` when the model is not a chain of dense layers and activations, or
    ///   ``NumPyError`` for a dtype NumPy cannot hold or a file system error.
    public static func write(_ model: Model, to path: String) throws {
        let exported: [ModelTensor]
        do { exported = try StateDictExport.tensors(of: model).tensors } catch {
            throw ModelFileError(.invalidRequest, "cannot write an .npz: \(error.description)", path: path)
        }
        try NumPyFile.writeArchive(exported.map { ($0.name, $0.tensor) }, to: path)
    }

    private static func stem(of path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }
}
