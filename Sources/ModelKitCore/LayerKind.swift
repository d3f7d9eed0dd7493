/// The kinds of layer a ModelKit model may hold. `Specs/layers.md` defines each one's shapes and formula.
public enum LayerKind: String, Sendable, CaseIterable, Codable {
    /// `y = x·W + b` with `W` in the layout its tag says (see ``WeightLayout``).
    case dense
    case relu
    /// `max(x, α·x)`; attribute `alpha` (default 0.01).
    case leakyRelu = "leaky_relu"
    case sigmoid
    case tanh
    /// Attribute `approximate`: `"none"` (exact, erf) or `"tanh"`.
    case gelu
    /// `x·sigmoid(x)`.
    case silu
    /// Over the last axis, stable (row maximum subtracted).
    case softmax
    case logSoftmax = "log_softmax"
    case identity
    /// Identity at inference; attribute `rate`.
    case dropout

    /// Whether the layer maps each element (or row) without parameters, keeping the shape.
    public var isActivation: Bool { self != .dense }

    /// The parameter roles the layer takes, the first ones required.
    public var parameterRoles: (required: [String], optional: [String]) {
        self == .dense ? (["weight"], ["bias"]) : ([], [])
    }
}
