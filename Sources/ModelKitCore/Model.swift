/// A tensor held by a model, with its layout tag when it is a dense weight.
public struct ModelTensor: Sendable {
    public var name: String
    public var tensor: Tensor
    /// Required for dense weights, `nil` for everything else.
    public var layout: WeightLayout?
    public var layoutSource: LayoutSource?
    /// Unknown keys from a newer minor version, kept on rewrite.
    public var extra: JSONObject

    public init(name: String, tensor: Tensor, layout: WeightLayout? = nil, layoutSource: LayoutSource? = nil,
                extra: JSONObject = JSONObject()) {
        self.name = name
        self.tensor = tensor
        self.layout = layout
        self.layoutSource = layoutSource
        self.extra = extra
    }
}

/// What a model is and where it came from.
public struct ModelInfo: Sendable, Equatable {
    public var name: String
    /// The program that wrote the model, e.g. `modelkit 0.1.0` or `pytorch 2.5`.
    public var producer: String
    /// The format the weights came from (`pytorch`, `keras`, `onnx`, `modelkit`, …): decides square-weight layouts.
    public var sourceFormat: String
    /// The input's dimensions; `nil` is dynamic (the batch).
    public var inputShape: [Int?]
    public var inputDType: DType
    /// Free key/values.
    public var metadata: [String: String]
    public var extra: JSONObject

    public init(name: String, producer: String, sourceFormat: String, inputShape: [Int?], inputDType: DType = .float32,
                metadata: [String: String] = [:], extra: JSONObject = JSONObject()) {
        self.name = name
        self.producer = producer
        self.sourceFormat = sourceFormat
        self.inputShape = inputShape
        self.inputDType = inputDType
        self.metadata = metadata
        self.extra = extra
    }

    /// The feature count of a `[batch, features]` input, when known.
    public var inputFeatures: Int? { inputShape.count == 2 ? inputShape[1] : nil }
}

/// A network: ordered layers, the tensors they use, and what the model is.
///
/// ```swift
/// var model = Model(info: ModelInfo(name: "tiny", producer: "me", sourceFormat: "modelkit", inputShape: [nil, 3]))
/// model.addTensor(ModelTensor(name: "w", tensor: Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [3, 2]), layout: .inOut))
/// model.layers.append(Layer(name: "fc", kind: .dense, parameters: ["weight": "w"]))
/// model.analyze().issues.isEmpty // true
/// ```
public struct Model: Sendable {
    public var info: ModelInfo
    public var layers: [Layer]
    /// Tensors in file order.
    public private(set) var tensors: [ModelTensor]
    private var indexByName: [String: Int]
    /// Unknown top-level keys from a newer minor version, kept on rewrite.
    public var extra: JSONObject

    public init(info: ModelInfo, layers: [Layer] = [], tensors: [ModelTensor] = [], extra: JSONObject = JSONObject()) {
        self.info = info
        self.layers = layers
        self.tensors = []
        self.indexByName = [:]
        self.extra = extra
        for tensor in tensors { addTensor(tensor) }
    }

    /// The tensor called `name`.
    public func tensor(named name: String) -> ModelTensor? {
        indexByName[name].map { tensors[$0] }
    }

    /// Adds a tensor, or replaces the one of the same name in place.
    public mutating func addTensor(_ tensor: ModelTensor) {
        if let index = indexByName[tensor.name] {
            tensors[index] = tensor
        } else {
            indexByName[tensor.name] = tensors.count
            tensors.append(tensor)
        }
    }

    /// Changes every tensor with `transform`, keeping names and order.
    public mutating func updateTensors(_ transform: (inout ModelTensor) throws -> Void) rethrows {
        for index in tensors.indices {
            let name = tensors[index].name
            try transform(&tensors[index])
            precondition(tensors[index].name == name, "updateTensors must not rename tensors")
        }
    }

    /// The parameter tensor of `layer` in `role`, when present.
    public func parameter(_ role: String, of layer: Layer) -> ModelTensor? {
        layer.parameters[role].flatMap { tensor(named: $0) }
    }

    /// The number of dense layers.
    public var denseLayerCount: Int { layers.filter { $0.kind == .dense }.count }
}
