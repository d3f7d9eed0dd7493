import ModelKitCore
import ModelKitFormat
import ModelKitInterop

/// Keras files through ModelIO.
enum KerasBridge {
    static func read(path: String) throws -> LoadedModel {
        throw ModelFileError(.unsupported, "Keras files are not readable yet", path: path)
    }
    static func write(_ model: Model, to path: String, format: ModelFormat) throws {
        throw ModelFileError(.unsupported, "Keras files are not writable yet", path: path)
    }
}
