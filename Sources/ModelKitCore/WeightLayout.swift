/// How a dense weight's two axes map to the layer's input and output features.
///
/// | layout | on disk | forward | who writes it |
/// |---|---|---|---|
/// | ``inOut`` | `[in, out]` | `y = x·W + b` | Keras `Dense`, scikit-learn, ONNX `MatMul` |
/// | ``outIn`` | `[out, in]` | `y = x·Wᵀ + b` | PyTorch `nn.Linear`, safetensors from PyTorch, ONNX `Gemm` with `transB=1` |
public enum WeightLayout: String, Sendable, CaseIterable, Codable {
    case inOut = "in_out"
    case outIn = "out_in"

    /// The name of the layout on the command line (`in-out`, `out-in`).
    public var flagValue: String { self == .inOut ? "in-out" : "out-in" }

    /// The axes written out, e.g. `[in, out]`.
    public var axesDescription: String { self == .inOut ? "[in, out]" : "[out, in]" }

    /// The other layout.
    public var swapped: WeightLayout { self == .inOut ? .outIn : .inOut }

    /// Parses `in-out`, `in_out`, `out-in` or `out_in`.
    public init?(name: String) {
        switch name.lowercased() {
        case "in_out", "in-out", "inout", "keras": self = .inOut
        case "out_in", "out-in", "outin", "pytorch", "torch": self = .outIn
        default: return nil
        }
    }

    /// `(in, out)` for a `[rows, columns]` weight stored in this layout.
    public func features(rows: Int, columns: Int) -> (input: Int, output: Int) {
        self == .inOut ? (rows, columns) : (columns, rows)
    }
}

/// How a weight's layout was decided; recorded so that a reader can tell a checked layout from an assumed one.
public enum LayoutSource: String, Sendable, CaseIterable, Codable {
    /// Only one orientation fits the chain of shapes.
    case shape
    /// The weight is square: the source format's convention decided.
    case convention
    /// The source file or a user flag stated it.
    case declared
}
