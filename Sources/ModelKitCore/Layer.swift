/// One step of a model: a kind, its attributes, and the names of its parameter tensors.
///
/// ```swift
/// let fc1 = Layer(name: "fc1", kind: .dense, parameters: ["weight": "fc1.weight", "bias": "fc1.bias"])
/// let act = Layer(name: "act1", kind: .leakyRelu, attributes: JSONObject([("alpha", .double(0.2))]))
/// ```
public struct Layer: Sendable, Equatable {
    /// Unique within the model.
    public var name: String
    public var kind: LayerKind
    /// Kind-specific settings, such as `alpha` of a leaky ReLU.
    public var attributes: JSONObject
    /// Parameter role (`weight`, `bias`) → tensor name in the model.
    public var parameters: [String: String]
    /// Keys a newer minor version wrote that this version does not know; kept when the file is rewritten.
    public var extra: JSONObject

    public init(name: String, kind: LayerKind, attributes: JSONObject = JSONObject(),
                parameters: [String: String] = [:], extra: JSONObject = JSONObject()) {
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.parameters = parameters
        self.extra = extra
    }

    /// `alpha` of a leaky ReLU (default 0.01, as PyTorch).
    public var alpha: Float { Float(attributes["alpha"]?.doubleValue ?? 0.01) }

    /// Whether a GELU uses the tanh approximation (attribute `approximate: "tanh"`).
    public var usesTanhApproximation: Bool { attributes["approximate"]?.stringValue == "tanh" }

    /// The axis of a softmax or log-softmax (default -1, the features).
    public var axis: Int { attributes["axis"]?.intValue ?? -1 }
}
