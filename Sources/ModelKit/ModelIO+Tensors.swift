import ModelKitCore
import ModelKitFormat
import ModelKitInterop

extension ModelIO {
    /// Every named tensor in the file at `path`, as the file stores it, without mapping anything to layers.
    ///
    /// This is what converting between weight-only formats needs when the file does not say how its weights connect
    /// (a transformer's safetensors, an LLM's GGUF, an ONNX graph that is not a dense chain): names, shapes and
    /// dtypes pass through unchanged, except GGUF's quantized tensors, which are dequantized to float32.
    ///
    /// ```swift
    /// let tensors = try ModelIO.loadTensors("Fixtures/models/safetensors/example.safetensors")
    /// print(tensors.map(\.name))
    /// ```
    ///
    /// - Parameters:
    ///   - path: The file; its format is recognised by content.
    ///   - options: Only ``LoadOptions/stateDictKey`` (for a PyTorch checkpoint dict) and ``LoadOptions/checksums``
    ///     apply.
    /// - Returns: The tensors in file order, each with its file name.
    /// - Throws: The format's typed error, one line naming the file.
    public static func loadTensors(_ path: String, options: LoadOptions = LoadOptions()) throws -> [ModelTensor] {
        let format = try ModelFormat.detect(path: path)
        try checkApplicable(LoadOptions(checksums: options.checksums, stateDictKey: options.stateDictKey), to: format, path: path)
        switch format {
        case .mkit, .modelKitJSON:
            return try ModelFile.read(path: path, checksums: options.checksums).model.tensors
        case .onnx:
            return try ONNXFormat.readWeights(path: path)
        case .safetensors:
            return try SafetensorsFormat.readTensors(path: path).tensors
        case .npz:
            return try NumPyFile.readArchive(path: path).map { ModelTensor(name: $0.name, tensor: $0.tensor) }
        case .pytorch:
            return try PyTorchFormat.readStateDict(path: path, key: options.stateDictKey)
        case .gguf:
            return try GGUFFormat.readContents(path: path).tensors
        case .keras, .kerasH5:
            return try KerasBridge.read(path: path, format: format).model.tensors
        }
    }
}
