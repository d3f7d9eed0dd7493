import ModelKitCore

/// Why a model, data set, configuration or checkpoint cannot be trained; each message says what, where and how to fix.
public enum TrainingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A layer the fine-tune engine cannot train (kind, attribute or missing parameter).
    case unsupportedLayer(layer: String, reason: String)
    /// A tensor of the model is unusable for training (not floating point, wrong shape, missing).
    case invalidParameter(tensor: String, reason: String)
    /// The data does not fit the model or the loss.
    case invalidData(reason: String)
    /// A hyperparameter is out of range.
    case invalidConfiguration(name: String, reason: String)
    /// A layer named in `freeze` is not in the model.
    case unknownLayer(name: String, available: [String])
    /// A saved optimizer or training state does not match this model or configuration.
    case stateMismatch(reason: String)

    public var description: String {
        switch self {
        case .unsupportedLayer(let layer, let reason):
            "layer '\(layer)' cannot be trained: \(reason)"
        case .invalidParameter(let tensor, let reason):
            "tensor '\(tensor)' cannot be trained: \(reason)"
        case .invalidData(let reason):
            "training data does not fit: \(reason)"
        case .invalidConfiguration(let name, let reason):
            "training setting '\(name)' is invalid: \(reason)"
        case .unknownLayer(let name, let available):
            "no layer named '\(name)' to freeze; the model's layers are \(available.joined(separator: ", "))"
        case .stateMismatch(let reason):
            "saved training state does not match: \(reason); resume with the model and settings that wrote it"
        }
    }
}
