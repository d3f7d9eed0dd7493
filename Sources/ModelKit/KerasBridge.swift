import ModelKitCore
import ModelKitFormat
import ModelKitInterop

/// Keras files through ``ModelIO``: ``KerasFormat`` gives a model; ModelIO adds what a load report needs.
enum KerasBridge {
    static func read(path: String, format: ModelFormat) throws -> LoadedModel {
        let model = try KerasFormat.read(path: path)
        var encodings: [String: String] = [:], stored: [String: Int] = [:]
        for tensor in model.tensors {
            encodings[tensor.name] = "raw"
            stored[tensor.name] = tensor.tensor.byteCount
        }
        let fileSize = (try? MappedFile.open(path).bytes.count) ?? 0
        var notes: [String] = []
        for tensor in model.tensors where tensor.tensor.hasNonFiniteValues {
            notes.append("tensor \(MessageText.quoted(tensor.name)) contains NaN or infinite values")
        }
        return LoadedModel(model: model, formatName: format == .keras ? "Keras (.keras)" : "Keras (HDF5 .h5)",
                           formatVersion: model.info.metadata["keras_version"] ?? "", fileSize: fileSize,
                           tensorEncodings: encodings, storedBytes: stored, notes: notes)
    }

    static func write(_ model: Model, to path: String) throws {
        try KerasFormat.write(model, to: path)
    }
}
