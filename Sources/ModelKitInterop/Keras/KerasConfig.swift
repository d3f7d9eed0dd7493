import ModelKitCore

/// One layer as a Keras config describes it.
struct KerasLayerConfig {
    let className: String
    let name: String
    let config: JSONObject
}

/// A Keras model config (`config.json` of a `.keras` file, or the `model_config` attribute of a legacy `.h5`)
/// reduced to what ModelKit builds: the chain of layers from the one input to the one output (K3–K5).
///
/// Nothing in the config is ever executed: classes are matched against an allowlist by name, and `Lambda`
/// layers and custom objects are refused before anything else happens.
struct KerasModelConfig {
    /// The model's `name`.
    var modelName: String
    /// The features of the `[batch, features]` input, when the config states them.
    var inputFeatures: Int?
    /// The per-sample shape of an input of more than two dimensions that the model's first layer, a `Flatten`,
    /// turns into `[batch, features]` (K22); `nil` for `[batch, features]` inputs.
    var flattenedInput: [Int]?
    /// The layers in the order data flows through them, `InputLayer`s and `Flatten`s removed.
    var layers: [KerasLayerConfig]

    /// The layer classes ModelKit builds (everything else is refused, K6).
    static let supportedClasses: Set<String> = ["InputLayer", "Dense", "Activation", "Dropout", "Softmax", "ReLU",
                                                "LeakyReLU", "Identity", "Flatten"]

    /// Reads the config document `json`; `path` names the file in errors.
    init(_ json: JSONValue, path: String) throws(KerasError) {
        guard let top = json.objectValue, let className = top["class_name"]?.stringValue,
              let config = top["config"]?.objectValue else {
            throw .invalidConfig(path: path, reason: "the top level needs 'class_name' and an object 'config'")
        }
        modelName = config["name"]?.stringValue ?? "model"
        try Self.checkBuiltIn(top, className: className, name: modelName, path: path)
        guard let entries = config["layers"]?.arrayValue else {
            throw .invalidConfig(path: path, reason: "'config.layers' is missing or not a list")
        }
        var layers: [KerasLayerConfig] = []
        for (index, entry) in entries.enumerated() {
            layers.append(try Self.layer(entry, index: index, path: path))
        }
        let chain: [KerasLayerConfig]
        let inputShape: (shape: JSONValue, what: String)?
        switch className {
        case "Sequential":
            var sequence = layers
            if let first = sequence.first, first.className == "InputLayer" {
                inputShape = Self.shape(of: first)
                sequence.removeFirst()
            } else if let stated = config["build_input_shape"] ?? top["build_config"]?["input_shape"] {
                inputShape = (stated, "the build input shape")
            } else {
                inputShape = nil
            }
            if let misplaced = sequence.first(where: { $0.className == "InputLayer" }) {
                throw .unsupportedArchitecture(path: path, reason: "InputLayer \(MessageText.quoted(misplaced.name)) is not the first layer")
            }
            chain = sequence
        case "Functional", "Model":
            let graph = try KerasFunctionalGraph(config: config, layers: layers, entries: entries, path: path)
            inputShape = Self.shape(of: graph.input)
            chain = graph.chain
        default:
            throw .refusedLayer(path: path, layer: modelName, className: className,
                                reason: "only Sequential and Functional models are read (a subclassed model holds Python code)")
        }
        // A Flatten first may take an input of any rank (K22); later ones see [batch, features] and change nothing.
        let startsWithFlatten = chain.first?.className == "Flatten"
        if let first = chain.first, startsWithFlatten {
            let format = first.config["data_format"]?.stringValue ?? "channels_last"
            guard format == "channels_last" else {
                throw .unsupportedArchitecture(path: path, reason: "Flatten \(MessageText.quoted(first.name)) has data_format "
                                               + "\(MessageText.quoted(format)), which reorders the input before flattening; only channels_last maps")
            }
        }
        inputFeatures = nil
        flattenedInput = nil
        if let (shape, what) = inputShape {
            if startsWithFlatten, let sample = try Self.sampleShape(shape, what: what, path: path), sample.count > 1 {
                flattenedInput = sample
                inputFeatures = sample.reduce(1, *)
            } else {
                inputFeatures = try Self.features(shape: shape, what: what, path: path)
            }
        }
        self.layers = chain.filter { $0.className != "Flatten" }
    }

    /// An `InputLayer`'s shape: `batch_shape` (Keras 3), `batch_input_shape` (Keras 2) or `[None] + shape`.
    static func shape(of input: KerasLayerConfig) -> (shape: JSONValue, what: String)? {
        let what = "InputLayer \(MessageText.quoted(input.name))"
        if let shape = input.config["batch_shape"] ?? input.config["batch_input_shape"], !shape.isNull { return (shape, what) }
        if let shape = input.config["shape"]?.arrayValue { return (.array([.null] + shape), what) }
        return nil
    }

    /// The dimensions after the batch of a `[batch, d₁, …]` shape when every one is a positive integer; `nil` when
    /// one is `null` (unknown).
    static func sampleShape(_ shape: JSONValue, what: String, path: String) throws(KerasError) -> [Int]? {
        guard let dimensions = shape.arrayValue, dimensions.count >= 2 else {
            throw .unsupportedArchitecture(path: path, reason: "\(what) is not a [batch, …] shape")
        }
        var sample: [Int] = []
        var product = 1
        for dimension in dimensions.dropFirst() {
            if dimension.isNull { return nil }
            guard let value = dimension.intValue, value > 0 else {
                throw .invalidConfig(path: path, reason: "\(what): a dimension is not a positive integer")
            }
            let (next, overflow) = product.multipliedReportingOverflow(by: value)
            guard !overflow, next <= 1 << 31 else {
                throw .invalidConfig(path: path, reason: "\(what): the flattened input would have more than 2^31 features")
            }
            product = next
            sample.append(value)
        }
        return sample
    }

    /// Parses one entry of `config.layers`, refusing code and custom objects first (K6, K7).
    private static func layer(_ entry: JSONValue, index: Int, path: String) throws(KerasError) -> KerasLayerConfig {
        guard let object = entry.objectValue, let className = object["class_name"]?.stringValue,
              let config = object["config"]?.objectValue else {
            throw .invalidConfig(path: path, reason: "layer #\(index) needs 'class_name' and an object 'config'")
        }
        let name = config["name"]?.stringValue ?? object["name"]?.stringValue ?? "layer_\(index)"
        if className == "Lambda" || className == "TFOpLambda" {
            throw .refusedLayer(path: path, layer: name, className: className,
                                reason: "it holds Python code, and ModelKit never runs code from a file; rebuild the model without Lambda layers")
        }
        try checkBuiltIn(object, className: className, name: name, path: path)
        guard supportedClasses.contains(className) else {
            throw .refusedLayer(path: path, layer: name, className: className,
                                reason: "ModelKit reads only InputLayer, Dense, Activation, Dropout, Softmax, ReLU, LeakyReLU and Identity layers")
        }
        return KerasLayerConfig(className: className, name: name, config: config)
    }

    /// Refuses objects that are not Keras's own: a `module` outside `keras`, or a `registered_name` other than
    /// the class name (`package>Name` is what `register_keras_serializable` writes).
    static func checkBuiltIn(_ object: JSONObject, className: String, name: String, path: String) throws(KerasError) {
        let module = object["module"]?.stringValue
        let registered = object["registered_name"]?.stringValue
        let isKerasModule = module.map { $0 == "keras" || $0.hasPrefix("keras.") } ?? true
        guard isKerasModule, registered == nil || registered == className else {
            var origin: [String] = []
            if let module { origin.append("module \(MessageText.quoted(module))") }
            if let registered { origin.append("registered name \(MessageText.quoted(registered))") }
            throw .refusedLayer(path: path, layer: name, className: className,
                                reason: "it is a custom object (\(origin.joined(separator: ", "))), whose code is not in the file and is never run; "
                                    + "rebuild the model from built-in Keras layers")
        }
    }

    /// The second entry of a `[batch, features]` shape (`null` when dynamic); any other rank is unsupported.
    static func features(shape: JSONValue, what: String, path: String) throws(KerasError) -> Int? {
        guard let dimensions = shape.arrayValue else {
            if shape.isNull { return nil }
            throw .invalidConfig(path: path, reason: "\(what): the shape is not a list")
        }
        guard dimensions.count == 2 else {
            throw .unsupportedArchitecture(path: path, reason: "\(what) has shape of rank \(dimensions.count), not [batch, features]")
        }
        if dimensions[1].isNull { return nil }
        guard let features = dimensions[1].intValue, features > 0 else {
            throw .invalidConfig(path: path, reason: "\(what): the feature count is not a positive integer")
        }
        return features
    }
}

/// The graph of a Functional model, checked to be one chain: one input, one output, and every layer called once
/// on the output of the layer before it (K5).
struct KerasFunctionalGraph {
    let input: KerasLayerConfig
    let chain: [KerasLayerConfig]

    init(config: JSONObject, layers: [KerasLayerConfig], entries: [JSONValue], path: String) throws(KerasError) {
        var byName: [String: Int] = [:]
        for (index, layer) in layers.enumerated() {
            guard byName.updateValue(index, forKey: layer.name) == nil else {
                throw .invalidConfig(path: path, reason: "two layers are named \(MessageText.quoted(layer.name))")
            }
        }
        let inputs = Self.endpoints(config["input_layers"])
        let outputs = Self.endpoints(config["output_layers"])
        guard inputs.count == 1, outputs.count == 1 else {
            throw .unsupportedArchitecture(path: path, reason: "the model has \(inputs.count) inputs and \(outputs.count) outputs, not one of each")
        }
        guard let inputIndex = byName[inputs[0]], layers[inputIndex].className == "InputLayer" else {
            throw .invalidConfig(path: path, reason: "the input \(MessageText.quoted(inputs[0])) is not an InputLayer of the model")
        }
        guard var current = byName[outputs[0]] else {
            throw .invalidConfig(path: path, reason: "the output \(MessageText.quoted(outputs[0])) is not a layer of the model")
        }
        var reversed: [KerasLayerConfig] = []
        var seen: Set<Int> = []
        while current != inputIndex {
            guard seen.insert(current).inserted else {
                throw .invalidConfig(path: path, reason: "layer \(MessageText.quoted(layers[current].name)) is its own input")
            }
            let layer = layers[current]
            let sources = try Self.sources(of: entries[current], layer: layer, path: path)
            guard sources.count == 1 else {
                throw .unsupportedArchitecture(path: path, reason: "layer \(MessageText.quoted(layer.name)) is called on \(sources.count) inputs, not 1")
            }
            guard let source = byName[sources[0]] else {
                throw .invalidConfig(path: path, reason: "layer \(MessageText.quoted(layer.name)) reads unknown layer \(MessageText.quoted(sources[0]))")
            }
            reversed.append(layer)
            current = source
        }
        let unused = layers.indices.filter { $0 != inputIndex && !seen.contains($0) }
        guard unused.isEmpty else {
            throw .unsupportedArchitecture(path: path, reason: "layers \(MessageText.list(unused.map { MessageText.quoted(layers[$0].name) })) "
                                            + "are not on the path from the input to the output")
        }
        input = layers[inputIndex]
        chain = reversed.reversed()
    }

    /// `["x", 0, 0]` or `[["x", 0, 0], …]` → the layer names.
    private static func endpoints(_ value: JSONValue?) -> [String] {
        guard let items = value?.arrayValue else { return [] }
        if let name = items.first?.stringValue { return [name] }
        return items.compactMap { $0.arrayValue?.first?.stringValue }
    }

    /// The layers whose outputs `entry` is called on, from its single inbound node: Keras 3 writes `keras_history`
    /// references in `args`/`kwargs`, Keras 2 `[[name, node, tensor, kwargs], …]` lists.
    private static func sources(of entry: JSONValue, layer: KerasLayerConfig, path: String) throws(KerasError) -> [String] {
        guard let nodes = entry["inbound_nodes"]?.arrayValue else {
            throw .invalidConfig(path: path, reason: "layer \(MessageText.quoted(layer.name)) has no 'inbound_nodes'")
        }
        guard nodes.count == 1 else {
            throw .unsupportedArchitecture(path: path, reason: "layer \(MessageText.quoted(layer.name)) is called \(nodes.count) times (shared layers are not supported)")
        }
        if let calls = nodes[0].arrayValue {
            return calls.compactMap { $0.arrayValue?.first?.stringValue }
        }
        var found: [String] = []
        collectHistory(nodes[0], into: &found, depth: 0)
        return found
    }

    private static func collectHistory(_ value: JSONValue, into found: inout [String], depth: Int) {
        guard depth < 32 else { return }
        switch value {
        case .object(let object):
            if let history = object["keras_history"]?.arrayValue, let name = history.first?.stringValue {
                found.append(name)
                return
            }
            for (_, child) in object { collectHistory(child, into: &found, depth: depth + 1) }
        case .array(let items):
            for item in items { collectHistory(item, into: &found, depth: depth + 1) }
        default:
            return
        }
    }
}
