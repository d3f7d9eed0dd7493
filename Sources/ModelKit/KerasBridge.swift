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
        if let sample = model.info.metadata["flattened_input_shape"], let features = model.info.inputShape.last ?? nil {
            notes.append("the model's first layer flattens inputs of shape [batch, \(sample.dropFirst().dropLast())] to "
                         + "[batch, \(features)]; the model takes [batch, \(features)] and flattens larger inputs the same way (row-major)")
        }
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
