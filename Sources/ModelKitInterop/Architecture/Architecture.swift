import ModelKitCore

/// The layers of a dense network, for weight-only files (safetensors, `.npz`, a `state_dict`) that do not say how
/// their tensors connect.
///
/// An architecture is a chain of linear layers, each followed by zero or more activations. It has two written forms,
/// both accepted by `--arch` (Specs/interop/architecture.md):
///
/// - the string form, `linear(400,200) relu linear(200,100) relu linear(100,2) softmax` (``description``);
/// - the JSON list form, `[{"type":"dense","in":400,"out":200,"activation":"relu"}, …]` (``jsonText``), which is
///   also what ModelKit writes into the `modelkit.architecture` metadata of the safetensors files it exports.
///
/// ```swift
/// let architecture = try Architecture(parsing: "linear(4,3) relu linear(3,2) softmax")
/// architecture.layers[0].outputFeatures // 3
/// architecture.description              // "linear(4,3) relu linear(3,2) softmax"
/// ```
public struct Architecture: Sendable, Equatable, CustomStringConvertible {
    /// A parameter-free function applied after a linear layer.
    public enum Activation: Sendable, Equatable {
        /// `max(x, 0)`.
        case relu
        /// `max(x, α·x)`.
        case leakyRelu(alpha: Double)
        /// `1 / (1 + e^-x)`.
        case sigmoid
        /// The hyperbolic tangent.
        case tanh
        /// Exact (erf) GELU, or the tanh approximation when `tanhApproximation` is true.
        case gelu(tanhApproximation: Bool)
        /// `x·sigmoid(x)`.
        case silu
        /// Over the features (the last axis).
        case softmax
        /// Over the features (the last axis).
        case logSoftmax
        /// Passes values through unchanged.
        case identity
        /// Identity at inference; `rate` is the drop probability used in training.
        case dropout(rate: Double)

        /// The layer kind this activation becomes in a ``Model``.
        public var kind: LayerKind {
            switch self {
            case .relu: .relu
            case .leakyRelu: .leakyRelu
            case .sigmoid: .sigmoid
            case .tanh: .tanh
            case .gelu: .gelu
            case .silu: .silu
            case .softmax: .softmax
            case .logSoftmax: .logSoftmax
            case .identity: .identity
            case .dropout: .dropout
            }
        }

        /// The layer attributes this activation carries in a ``Model`` (Specs/layers.md).
        public var attributes: JSONObject {
            switch self {
            case .leakyRelu(let alpha): JSONObject([("alpha", .double(alpha))])
            case .gelu(let tanh): JSONObject([("approximate", .string(tanh ? "tanh" : "none"))])
            case .softmax, .logSoftmax: JSONObject([("axis", .integer(-1))])
            case .dropout(let rate): JSONObject([("rate", .double(rate))])
            default: JSONObject()
            }
        }

        /// The token of the string form: `relu`, `leakyrelu(0.2)`, `gelu(tanh)`, `dropout(0.5)`, …
        public var token: String {
            switch self {
            case .relu: "relu"
            case .leakyRelu(let alpha): "leakyrelu(\(Architecture.numberText(alpha)))"
            case .sigmoid: "sigmoid"
            case .tanh: "tanh"
            case .gelu(let tanh): tanh ? "gelu(tanh)" : "gelu"
            case .silu: "silu"
            case .softmax: "softmax"
            case .logSoftmax: "logsoftmax"
            case .identity: "identity"
            case .dropout(let rate): "dropout(\(Architecture.numberText(rate)))"
            }
        }

        /// The activation a model layer describes, or `nil` for a dense layer.
        ///
        /// - Throws: ``ArchitectureError`` when the layer has a setting the architecture forms cannot express
        ///   (a softmax over an axis other than the features).
        public init?(layer: Layer) throws(ArchitectureError) {
            switch layer.kind {
            case .dense: return nil
            case .relu: self = .relu
            case .leakyRelu: self = .leakyRelu(alpha: layer.attributes["alpha"]?.doubleValue ?? 0.01)
            case .sigmoid: self = .sigmoid
            case .tanh: self = .tanh
            case .gelu: self = .gelu(tanhApproximation: layer.usesTanhApproximation)
            case .silu: self = .silu
            case .softmax, .logSoftmax:
                // A [batch, features] input has its features on axis 1, which is also axis -1.
                guard layer.axis == -1 || layer.axis == 1 else {
                    throw .unsupportedModel(layer: layer.name,
                                            reason: "\(layer.kind.rawValue) over axis \(layer.axis) cannot be written; only the features axis (-1) can")
                }
                self = layer.kind == .softmax ? .softmax : .logSoftmax
            case .identity: self = .identity
            case .dropout: self = .dropout(rate: layer.attributes["rate"]?.doubleValue ?? 0.5)
            }
        }
    }

    /// A linear (dense) layer and the activations that follow it.
    public struct Dense: Sendable, Equatable {
        /// `IN`: the features the layer takes.
        public var inputFeatures: Int
        /// `OUT`: the features the layer gives.
        public var outputFeatures: Int
        /// Whether the layer adds a bias (PyTorch's `Linear(bias=True)`, the default).
        public var hasBias: Bool
        /// Applied in order after the layer; empty for an affine layer.
        public var activations: [Activation]

        /// A linear layer of `inputFeatures → outputFeatures`; ``Architecture/init(layers:)`` checks the sizes.
        public init(inputFeatures: Int, outputFeatures: Int, hasBias: Bool = true, activations: [Activation] = []) {
            self.inputFeatures = inputFeatures
            self.outputFeatures = outputFeatures
            self.hasBias = hasBias
            self.activations = activations
        }

        /// The layer's token of the string form, e.g. `linear(400,200)` or `linear(4,3,bias=false)`.
        public var token: String {
            "linear(\(inputFeatures),\(outputFeatures)\(hasBias ? "" : ",bias=false"))"
        }
    }

    /// The largest feature count accepted in either form (far above any dense layer that fits in memory as a
    /// matrix with a partner dimension; it keeps `in × out` from overflowing).
    public static let maximumFeatures = 1 << 31

    /// The linear layers, in order.
    public let layers: [Dense]

    /// Makes an architecture, checking that it is a chain: each layer takes as many inputs as the one before gives.
    ///
    /// - Throws: ``ArchitectureError/invalid(reason:)`` when there are no layers, a size is not positive, or the
    ///   chain breaks.
    public init(layers: [Dense]) throws(ArchitectureError) {
        guard !layers.isEmpty else { throw .invalid(reason: "an architecture needs at least one linear layer") }
        for (index, layer) in layers.enumerated() {
            guard (1...Architecture.maximumFeatures).contains(layer.inputFeatures),
                  (1...Architecture.maximumFeatures).contains(layer.outputFeatures) else {
                throw .invalid(reason: "linear \(index + 1) \(layer.token): feature counts must be between 1 and \(Architecture.maximumFeatures)")
            }
            if index > 0, layers[index - 1].outputFeatures != layer.inputFeatures {
                throw .invalid(reason: Architecture.chainBreak(layers[index - 1], index, layer))
            }
        }
        self.layers = layers
    }

    /// The input feature count of the first layer.
    public var inputFeatures: Int { layers[0].inputFeatures }

    /// The output feature count of the last layer.
    public var outputFeatures: Int { layers[layers.count - 1].outputFeatures }

    /// The string form, which ``init(parsing:)`` reads back.
    public var description: String {
        layers.map { ([$0.token] + $0.activations.map(\.token)).joined(separator: " ") }.joined(separator: " ")
    }

    /// For each linear layer, its index among the modules of the matching PyTorch `nn.Sequential`, where every
    /// activation is a module too: `linear relu linear` gives `[0, 2]`. These are the numbers in the state_dict
    /// names `0.weight`, `2.weight`.
    public var sequentialIndices: [Int] {
        var indices: [Int] = []
        var next = 0
        for layer in layers {
            indices.append(next)
            next += 1 + layer.activations.count
        }
        return indices
    }

    /// Describes an existing model's layers.
    ///
    /// - Throws: ``ArchitectureError/unsupportedModel(layer:reason:)`` when the model does not start with a dense
    ///   layer, a dense weight is missing, not a matrix or has no layout tag, or a softmax is over another axis.
    public init(model: Model) throws(ArchitectureError) {
        var layers: [Dense] = []
        for layer in model.layers {
            if let activation = try Activation(layer: layer) {
                guard !layers.isEmpty else {
                    throw .unsupportedModel(layer: layer.name, reason: "\(layer.kind.rawValue) comes before the first dense layer; an architecture starts with a linear layer")
                }
                layers[layers.count - 1].activations.append(activation)
                continue
            }
            guard let weight = model.parameter("weight", of: layer) else {
                throw .unsupportedModel(layer: layer.name, reason: "the dense layer has no weight tensor")
            }
            let dimensions = weight.tensor.shape.dimensions
            guard dimensions.count == 2 else {
                throw .unsupportedModel(layer: layer.name, reason: "weight \(MessageText.quoted(weight.name)) has shape \(weight.tensor.shape), not a matrix")
            }
            guard let layout = weight.layout else {
                throw .unsupportedModel(layer: layer.name, reason: "weight \(MessageText.quoted(weight.name)) has no layout tag (in_out or out_in)")
            }
            let features = layout.features(rows: dimensions[0], columns: dimensions[1])
            layers.append(Dense(inputFeatures: features.input, outputFeatures: features.output,
                                hasBias: model.parameter("bias", of: layer) != nil))
        }
        do {
            try self.init(layers: layers)
        } catch {
            throw .unsupportedModel(layer: model.info.name, reason: error.reason)
        }
    }

    /// Why layer `index` (0-based) does not follow `previous`.
    static func chainBreak(_ previous: Dense, _ index: Int, _ layer: Dense) -> String {
        "linear \(index + 1) \(layer.token) takes \(layer.inputFeatures) inputs, but linear \(index) \(previous.token) "
            + "gives \(previous.outputFeatures) outputs"
    }

    /// The shortest text that reads back to `value` (`0.2`, `0.01`, `1`).
    static func numberText(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(describing: value)
    }
}
