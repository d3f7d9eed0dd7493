import ModelKitCore

/// What one Keras layer becomes: a dense layer whose weights are read from the file, or a parameter-free layer.
enum KerasPlannedLayer {
    /// A `Dense` layer: the weights `kernel` `[in, units]` and, with `useBias`, `bias` `[units]`.
    case dense(name: String, units: Int, useBias: Bool)
    /// An activation, dropout or identity layer.
    case layer(Layer)
}

/// Maps Keras layers and activation names onto ModelKit layer kinds (K8, K9).
enum KerasLayerMapping {
    /// Keras activation names and the ModelKit layer each one is (`linear` is none).
    static func layer(forActivation activation: String, name: String) -> Layer? {
        switch activation {
        case "relu": Layer(name: name, kind: .relu)
        case "sigmoid": Layer(name: name, kind: .sigmoid)
        case "tanh": Layer(name: name, kind: .tanh)
        // keras.activations.gelu(x, approximate=False): the string form is always exact.
        case "gelu": Layer(name: name, kind: .gelu, attributes: JSONObject([("approximate", .string("none"))]))
        case "silu", "swish": Layer(name: name, kind: .silu)
        case "softmax": Layer(name: name, kind: .softmax, attributes: JSONObject([("axis", .integer(-1))]))
        case "log_softmax": Layer(name: name, kind: .logSoftmax, attributes: JSONObject([("axis", .integer(-1))]))
        // keras.activations.leaky_relu(x, negative_slope=0.2)
        case "leaky_relu": Layer(name: name, kind: .leakyRelu, attributes: JSONObject([("alpha", .double(0.2))]))
        default: nil
        }
    }

    /// The ModelKit layers for `layer`, in order.
    static func plan(_ layer: KerasLayerConfig, path: String) throws(KerasError) -> [KerasPlannedLayer] {
        let config = layer.config
        switch layer.className {
        case "Dense":
            guard let units = config["units"]?.intValue, units > 0 else {
                throw .invalidConfig(path: path, reason: "Dense layer \(MessageText.quoted(layer.name)) needs a positive integer 'units'")
            }
            if let quantization = config["quantization_config"], !quantization.isNull {
                throw .refusedLayer(path: path, layer: layer.name, className: layer.className, reason: "quantized Dense layers are not supported")
            }
            if let rank = config["lora_rank"]?.intValue, rank > 0 {
                throw .refusedLayer(path: path, layer: layer.name, className: layer.className,
                                    reason: "LoRA is enabled (lora_rank \(rank)); merge it into the kernel before saving")
            }
            if let policy = config["dtype"]?["class_name"]?.stringValue, policy.contains("Quantized") {
                throw .refusedLayer(path: path, layer: layer.name, className: layer.className, reason: "dtype policy \(policy) is not supported")
            }
            let useBias = config["use_bias"]?.boolValue ?? true
            var planned: [KerasPlannedLayer] = [.dense(name: layer.name, units: units, useBias: useBias)]
            let activation = try activationName(config["activation"], layer: layer, path: path)
            if activation != "linear" {
                guard let mapped = Self.layer(forActivation: activation, name: "\(layer.name)_\(activation)") else {
                    throw .unsupportedActivation(path: path, layer: layer.name, activation: activation)
                }
                planned.append(.layer(mapped))
            }
            return planned
        case "Activation":
            let activation = try activationName(config["activation"], layer: layer, path: path)
            if activation == "linear" { return [.layer(Layer(name: layer.name, kind: .identity))] }
            guard let mapped = Self.layer(forActivation: activation, name: layer.name) else {
                throw .unsupportedActivation(path: path, layer: layer.name, activation: activation)
            }
            return [.layer(mapped)]
        case "ReLU":
            let maximum = config["max_value"]
            let threshold = config["threshold"]?.doubleValue ?? 0
            guard maximum == nil || maximum?.isNull == true, threshold == 0 else {
                throw .refusedLayer(path: path, layer: layer.name, className: layer.className,
                                    reason: "max_value and threshold are not supported (only max_value=None, threshold=0)")
            }
            let slope = config["negative_slope"]?.doubleValue ?? 0
            guard slope >= 0, slope.isFinite else {
                throw .invalidConfig(path: path, reason: "ReLU \(MessageText.quoted(layer.name)): negative_slope must be a number ≥ 0")
            }
            if slope == 0 { return [.layer(Layer(name: layer.name, kind: .relu))] }
            return [.layer(Layer(name: layer.name, kind: .leakyRelu, attributes: JSONObject([("alpha", .double(slope))])))]
        case "LeakyReLU":
            // Keras 3 writes `negative_slope`; Keras 2 wrote `alpha`. Both default to 0.3.
            var slope = 0.3
            if let value = config["negative_slope"] ?? config["alpha"] {
                guard let number = value.doubleValue, number.isFinite else {
                    throw .invalidConfig(path: path, reason: "LeakyReLU \(MessageText.quoted(layer.name)): negative_slope is not a number")
                }
                slope = number
            }
            return [.layer(Layer(name: layer.name, kind: .leakyRelu, attributes: JSONObject([("alpha", .double(slope))])))]
        case "Softmax":
            let axis = config["axis"].flatMap { $0.intValue ?? $0[0]?.intValue } ?? -1
            guard axis == -1 || axis == 1, (config["axis"]?.arrayValue?.count ?? 1) == 1 else {
                throw .refusedLayer(path: path, layer: layer.name, className: layer.className,
                                    reason: "softmax over an axis other than the features (-1) is not supported")
            }
            return [.layer(Layer(name: layer.name, kind: .softmax, attributes: JSONObject([("axis", .integer(-1))])))]
        case "Dropout":
            let rate = config["rate"]?.doubleValue ?? 0
            guard rate >= 0, rate < 1 else {
                throw .invalidConfig(path: path, reason: "Dropout \(MessageText.quoted(layer.name)): rate must be in [0, 1)")
            }
            return [.layer(Layer(name: layer.name, kind: .dropout, attributes: JSONObject([("rate", .double(rate))])))]
        case "Identity":
            return [.layer(Layer(name: layer.name, kind: .identity))]
        default:
            throw .refusedLayer(path: path, layer: layer.name, className: layer.className, reason: "the class is not supported")
        }
    }

    /// The activation's name: a string (`"relu"`), or Keras's serialized built-in function
    /// (`{"module": "keras.activations", "class_name": "function", "config": "relu"}`). A function from any other
    /// module is a custom object and refused (K7).
    static func activationName(_ value: JSONValue?, layer: KerasLayerConfig, path: String) throws(KerasError) -> String {
        guard let value, !value.isNull else { return "linear" }
        if let name = value.stringValue { return name }
        guard let object = value.objectValue else {
            throw .invalidConfig(path: path, reason: "layer \(MessageText.quoted(layer.name)): 'activation' is neither a name nor an object")
        }
        let name = object["config"]?.stringValue ?? object["class_name"]?.stringValue ?? "?"
        let module = object["module"]?.stringValue ?? "keras.activations"
        guard module == "keras" || module.hasPrefix("keras.") else {
            throw .refusedLayer(path: path, layer: layer.name, className: layer.className,
                                reason: "its activation \(MessageText.quoted(name)) comes from module \(MessageText.quoted(module)), "
                                    + "a custom function that ModelKit never runs")
        }
        return name
    }
}
