import ModelKitCore
import ModelKitFormat

/// Why a Keras file (`.keras` or legacy `.h5`) could not be read or written.
///
/// Every description is one line: the file, what is wrong (naming the layer, class, HDF5 object or tensor), and
/// what to do. Names read from the file are quoted with control characters escaped and shortened.
public enum KerasError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened, mapped or written.
    case fileAccess(FileAccessError)
    /// The `.keras` zip archive is damaged or unsafe (bad records, `..` member names, CRC mismatch, truncation).
    case archive(ZipArchiveError)
    /// Neither a `.keras` zip nor an HDF5 file; `detected` says what the bytes look like.
    case notKeras(path: String, detected: String)
    /// A `.keras` archive without one of the members Keras writes (`config.json`, `model.weights.h5`).
    case missingMember(path: String, member: String, available: [String])
    /// An HDF5 file without the `model_config` attribute `model.save("x.h5")` writes (a weights-only file).
    case noModelConfig(path: String)
    /// The model config is not valid JSON or lacks what Keras always writes.
    case invalidConfig(path: String, reason: String)
    /// A layer that ModelKit refuses to build: a `Lambda` or custom object (code), or a class it does not support.
    case refusedLayer(path: String, layer: String, className: String, reason: String)
    /// A layer's activation that has no ModelKit layer kind.
    case unsupportedActivation(path: String, layer: String, activation: String)
    /// The model is not a single chain from one `[batch, features]` input.
    case unsupportedArchitecture(path: String, reason: String)
    /// The HDF5 structure is damaged or not what Keras writes, or libhdf5 failed to write.
    case hdf5(path: String, object: String, reason: String)
    /// An HDF5 construct refused for safety or size (cycles, external links or storage, virtual datasets, sizes
    /// beyond what the file can hold).
    case unsafeHDF5(path: String, object: String, reason: String)
    /// A dataset of a type other than IEEE float16, float32 or float64.
    case unsupportedDType(path: String, object: String, type: String)
    /// A layer's weights are missing or not the number Keras would write.
    case missingWeights(path: String, layer: String, reason: String)
    /// A weight's shape disagrees with the layer's config.
    case weightShape(path: String, layer: String, weight: String, expected: [Int], actual: [Int])
    /// The model cannot be written as a Keras file.
    case cannotExport(path: String, reason: String)

    /// The class of problem, as ``ModelFileError`` names them (for exit codes).
    public var kind: ModelFileError.Kind {
        switch self {
        case .fileAccess: .io
        case .archive(.cannotOpen): .io
        case .archive(.notAZipArchive), .notKeras: .notThisFormat
        case .archive(.truncated): .truncated
        case .archive(.checksumMismatch): .checksumMismatch
        case .archive(.unsupported): .unsupported
        case .archive: .corrupt
        case .missingMember, .noModelConfig, .invalidConfig, .hdf5, .unsafeHDF5, .missingWeights, .weightShape: .corrupt
        case .refusedLayer, .unsupportedActivation, .unsupportedArchitecture, .unsupportedDType: .unsupported
        case .cannotExport: .invalidRequest
        }
    }

    /// One line: the file, what is wrong, and what to do.
    public var description: String {
        switch self {
        case .fileAccess(let error):
            return error.description
        case .archive(let error):
            return error.description
        case .notKeras(let path, let detected):
            return "\(path): not a Keras file (it looks like \(detected)); Keras models are .keras zip archives or "
                + "HDF5 files written by model.save(\"x.h5\")"
        case .missingMember(let path, let member, let available):
            return "\(path): the archive has no \(MessageText.quoted(member)) (it holds \(MessageText.list(available.map { MessageText.quoted($0) })))"
                + "; it is not a Keras 3 model archive, re-save it with model.save(\"x.keras\")"
        case .noModelConfig(let path):
            return "\(path): the HDF5 file has no 'model_config' attribute: it holds weights only "
                + "(model.save_weights); save the whole model with model.save(\"x.keras\") or model.save(\"x.h5\")"
        case .invalidConfig(let path, let reason):
            return "\(path): invalid Keras model config: \(reason)"
        case .refusedLayer(let path, let layer, let className, let reason):
            return "\(path): layer \(MessageText.quoted(layer)) of class \(MessageText.quoted(className)) is refused: \(reason)"
        case .unsupportedActivation(let path, let layer, let activation):
            return "\(path): layer \(MessageText.quoted(layer)) uses activation \(MessageText.quoted(activation)), which "
                + "ModelKit does not support (supported: relu, leaky_relu, sigmoid, tanh, gelu, silu/swish, softmax, "
                + "log_softmax, linear)"
        case .unsupportedArchitecture(let path, let reason):
            return "\(path): unsupported model: \(reason); ModelKit reads chains of Dense and activation layers"
        case .hdf5(let path, let object, let reason):
            return "\(path): HDF5 object \(MessageText.quoted(object)): \(reason)"
        case .unsafeHDF5(let path, let object, let reason):
            return "\(path): refusing HDF5 object \(MessageText.quoted(object)): \(reason)"
        case .unsupportedDType(let path, let object, let type):
            return "\(path): dataset \(MessageText.quoted(object)) has type \(type); ModelKit reads IEEE float16, float32 "
                + "and float64 weights"
        case .missingWeights(let path, let layer, let reason):
            return "\(path): layer \(MessageText.quoted(layer)): \(reason); the weights do not match the config, re-save "
                + "the model with Keras"
        case .weightShape(let path, let layer, let weight, let expected, let actual):
            return "\(path): layer \(MessageText.quoted(layer)): \(weight) has shape \(Shape(actual)) but the config "
                + "needs \(Shape(expected)); the weights do not belong to this config"
        case .cannotExport(let path, let reason):
            return "\(path): cannot write a Keras file: \(reason)"
        }
    }
}
