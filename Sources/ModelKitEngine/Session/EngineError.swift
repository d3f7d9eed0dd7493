import ModelKitCore

/// Why a model cannot be prepared or an input cannot be run. Each description is one line that says what is wrong,
/// with the shapes involved, and how to fix it.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `Model.analyze()` found errors; all of them are listed.
    case invalidModel(name: String, issues: [ValidationIssue])
    /// Neither the model's input shape nor its first dense layer says how many features an input row has.
    case unknownInputFeatures(model: String)
    /// A parameter tensor the engine cannot use (for example an integer bias).
    case unsupportedParameter(layer: String, tensor: String, reason: String)
    /// A dimension too large for the matrix library's 32-bit sizes.
    case tooLarge(layer: String, dimension: Int)
    /// An option out of range.
    case invalidOption(name: String, value: Int, reason: String)
    /// The input is not a `[batch, features]` matrix.
    case inputRank(shape: Shape, expectedFeatures: Int)
    /// The input's rows have the wrong number of features. When the transposed input would fit, the description
    /// says so and names the flag that reads feature-major input.
    case inputFeatures(shape: Shape, expectedFeatures: Int)
    /// The input's values are not floating point.
    case inputDType(DType)
    /// A flat value list does not hold `batchSize × features` values.
    case valueCount(count: Int, batchSize: Int, features: Int)
    /// Rows of different lengths were given.
    case raggedRows(row: Int, count: Int, expectedFeatures: Int)
    /// The batch size is negative.
    case negativeBatchSize(Int)
    /// An output buffer too small for the results.
    case outputBufferTooSmall(count: Int, required: Int, batchSize: Int, features: Int)

    public var description: String {
        switch self {
        case .invalidModel(let name, let issues):
            let errors = issues.filter { $0.severity == .error }
            let list = errors.enumerated().map { "(\($0.offset + 1)) \($0.element.description)" }.joined(separator: " ")
            return "model '\(name)' cannot run: \(errors.count) error\(errors.count == 1 ? "" : "s"): \(list)"
        case .unknownInputFeatures(let model):
            return "model '\(model)' does not say how many input features it takes; set model.input.shape to [null, FEATURES]"
        case .unsupportedParameter(let layer, let tensor, let reason):
            return "layer '\(layer)': tensor '\(tensor)' cannot be used: \(reason)"
        case .tooLarge(let layer, let dimension):
            return "layer '\(layer)': dimension \(dimension) exceeds the matrix library's limit of \(Int32.max)"
        case .invalidOption(let name, let value, let reason):
            return "option \(name) = \(value) is invalid: \(reason)"
        case .inputRank(let shape, let features):
            guard shape.rank > 2 else {
                return "input has shape \(shape), but the model expects a matrix [batch, \(features)]; reshape it to [batch, \(features)] (one row per sample)"
            }
            let perSample = shape.dimensions.dropFirst().map(String.init).joined(separator: "×")
            return "input has shape \(shape), but the model expects [batch, \(features)]: an input with more dimensions is "
                + "flattened row-major (as nn.Flatten does), and each sample here holds \(perSample) values, not \(features); "
                + "check that the input belongs to this model"
        case .inputFeatures(let shape, let features):
            var text = "input has shape \(shape), but the model expects [batch, \(features)]: rows have \(shape.dimensions.last ?? 0) features instead of \(features)"
            if shape.rank == 2, shape.dimensions[0] == features {
                text += "; the input looks like [features, batch] (\(features) features × \(shape.dimensions[1]) samples): pass --input-layout feature-major, or transpose it"
            } else {
                text += "; check that the input belongs to this model"
            }
            return text
        case .inputDType(let dtype):
            return "input values are \(dtype.rawValue); the model takes floating-point input (float32, float16, bfloat16 or float64): convert the input"
        case .valueCount(let count, let batchSize, let features):
            return "got \(count) input values for batch size \(batchSize); the model needs batch size × \(features) = \(batchSize.multipliedReportingOverflow(by: features).partialValue) values"
        case .raggedRows(let row, let count, let features):
            return "input row \(row) has \(count) values; every row needs \(features) (the model's input features)"
        case .negativeBatchSize(let size):
            return "batch size \(size) is negative; pass the number of input rows"
        case .outputBufferTooSmall(let count, let required, let batchSize, let features):
            return "output buffer holds \(count) values; batch size \(batchSize) × \(features) output features needs \(required)"
        }
    }
}
