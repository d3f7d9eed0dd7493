/// The shapes and sizes of one layer, as inferred by walking the model.
public struct LayerSummary: Sendable, Equatable {
    public var name: String
    public var kind: LayerKind
    /// `nil` entries are dynamic (the batch) or unknown after an error.
    public var inputShape: [Int?]
    public var outputShape: [Int?]
    /// The weight's stored shape and layout, for dense layers.
    public var weightShape: Shape?
    public var weightLayout: WeightLayout?
    public var weightLayoutSource: LayoutSource?
    /// The dtype of the parameters (the weight's), when the layer has any.
    public var dtype: DType?
    public var parameterCount: Int
    public var parameterBytes: Int
}

/// The result of walking a whole model: per-layer shapes, totals, and every problem found.
public struct ModelAnalysis: Sendable, Equatable {
    public var layers: [LayerSummary]
    /// All problems, in model order; empty means the model is consistent.
    public var issues: [ValidationIssue]
    public var totalParameters: Int
    public var totalParameterBytes: Int
    /// The model's output shape, when it could be inferred.
    public var outputShape: [Int?]

    /// True when no issue is an error.
    public var isValid: Bool { !issues.contains { $0.severity == .error } }
    public var errors: [ValidationIssue] { issues.filter { $0.severity == .error } }
    public var warnings: [ValidationIssue] { issues.filter { $0.severity == .warning } }
}
