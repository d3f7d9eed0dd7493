import ModelKitCore

/// What a model is trained towards, one entry (or row) per input row.
public enum TrainingTargets: Sendable, Equatable {
    /// Class ids (cross-entropy), one per row.
    case classes([Int64])
    /// `rows × columns` float targets (regression, binary labels, class probabilities), row-major.
    case values([Float], columns: Int)

    /// The number of rows.
    public var rows: Int {
        switch self {
        case .classes(let ids): ids.count
        case .values(let values, let columns): columns > 0 ? values.count / columns : 0
        }
    }
}

/// Training rows: float32 inputs `[rows, features]` and their targets.
///
/// ```swift
/// let arrays = try NumPyFile.readArchive(path: "train.npz")      // x, y
/// let data = try TrainingData(inputs: x, targets: y)
/// ```
public struct TrainingData: Sendable {
    /// `rows × features` values, row-major.
    public let inputs: [Float]
    /// Values per input row.
    public let features: Int
    /// One target (or target row) per input row.
    public let targets: TrainingTargets

    /// The number of rows.
    public var rows: Int { features > 0 ? inputs.count / features : targets.rows }

    /// Data from flat values.
    ///
    /// - Throws: ``TrainingError/invalidData(reason:)`` when the counts do not describe whole rows or the row
    ///   counts of inputs and targets differ.
    public init(inputs: [Float], features: Int, targets: TrainingTargets) throws(TrainingError) {
        guard features > 0, inputs.count % features == 0 else {
            throw .invalidData(reason: "\(inputs.count) input values are not whole rows of \(features) features")
        }
        if case .values(let values, let columns) = targets, columns <= 0 || values.count % columns != 0 {
            throw .invalidData(reason: "\(values.count) target values are not whole rows of \(columns) columns")
        }
        guard inputs.count / features == targets.rows else {
            throw .invalidData(reason: "\(inputs.count / features) input rows but \(targets.rows) target rows; they must match")
        }
        self.inputs = inputs
        self.features = features
        self.targets = targets
    }

    /// Data from tensors: `inputs` floating point `[rows, features]`; `targets` integer `[rows]` (class ids) or
    /// floating point `[rows]` / `[rows, columns]`.
    ///
    /// - Throws: ``TrainingError/invalidData(reason:)`` for other dtypes or shapes.
    public init(inputs: Tensor, targets: Tensor) throws(TrainingError) {
        guard inputs.dtype.isFloatingPoint, inputs.shape.rank == 2 else {
            throw .invalidData(reason: "inputs must be floating point [rows, features], got \(inputs.dtype.rawValue) \(inputs.shape)")
        }
        let rows = inputs.shape.dimensions[0], features = inputs.shape.dimensions[1]
        let converted: TrainingTargets
        if targets.dtype.isFloatingPoint {
            guard targets.shape.rank == 1 || targets.shape.rank == 2 else {
                throw .invalidData(reason: "float targets must be [rows] or [rows, columns], got \(targets.shape)")
            }
            converted = .values(targets.floatValues(), columns: targets.shape.rank == 2 ? targets.shape.dimensions[1] : 1)
        } else {
            guard targets.shape.rank == 1 else {
                throw .invalidData(reason: "class ids must be integers [rows], got \(targets.dtype.rawValue) \(targets.shape)")
            }
            converted = .classes((0..<targets.elementCount).map { targets.integerElement(at: $0) ?? -1 })
        }
        guard targets.shape.dimensions.first == rows else {
            throw .invalidData(reason: "\(rows) input rows but \(targets.shape.dimensions.first ?? 0) target rows; they must match")
        }
        try self.init(inputs: inputs.floatValues(), features: features, targets: converted)
    }
}
