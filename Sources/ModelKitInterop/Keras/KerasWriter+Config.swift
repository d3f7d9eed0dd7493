import ModelKitCore

extension KerasWriter {
    /// The Keras layers for `model`: one per ModelKit layer, named after it (`/` is not allowed in Keras names and
    /// becomes `_`), dense kernels as `[in, out]` float32 (K19).
    static func plan(_ model: Model, path: String) throws(KerasError) -> Plan {
        let analysis = model.analyze()
        if let error = analysis.issues.first(where: { $0.severity == .error }) {
            throw .cannotExport(path: path, reason: "the model is not valid: \(error.description)")
        }
        var used: Set<String> = ["input_layer"]
        var layers: [ExportLayer] = []
        var features = model.info.inputFeatures
        for layer in model.layers {
            let name = unique(sanitized(layer.name), in: &used)
            var base = JSONObject([("name", .string(name)), ("trainable", .bool(true)), ("dtype", dtypePolicy)])
            switch layer.kind {
            case .dense:
                guard let weight = model.parameter("weight", of: layer), weight.tensor.shape.rank == 2, let layout = weight.layout else {
                    throw .cannotExport(path: path, reason: "dense layer \(MessageText.quoted(layer.name)) has no 2-D weight with a layout")
                }
                var kernel = weight.tensor
                if layout == .outIn {
                    do { kernel = try kernel.transposed2D() } catch {
                        throw .cannotExport(path: path, reason: "layer \(MessageText.quoted(layer.name)): \(error.description)")
                    }
                }
                let (inputs, units) = (kernel.shape.dimensions[0], kernel.shape.dimensions[1])
                if features == nil { features = inputs }
                var weights = [(shape: [inputs, units], values: kernel.floatValues())]
                if let bias = model.parameter("bias", of: layer) {
                    weights.append((shape: [units], values: bias.tensor.floatValues()))
                }
                base["units"] = .integer(units)
                base["activation"] = .string("linear")
                base["use_bias"] = .bool(weights.count == 2)
                base["kernel_initializer"] = kerasObject("keras.initializers", "GlorotUniform", JSONObject([("seed", .null)]))
                base["bias_initializer"] = kerasObject("keras.initializers", "Zeros", JSONObject())
                for key in ["kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"] {
                    base[key] = .null
                }
                layers.append(ExportLayer(className: "Dense", name: name, config: base, weights: weights))
            case .leakyRelu:
                base["negative_slope"] = .double(Double(layer.alpha))
                layers.append(ExportLayer(className: "LeakyReLU", name: name, config: base))
            case .softmax:
                base["axis"] = .integer(-1)
                layers.append(ExportLayer(className: "Softmax", name: name, config: base))
            case .dropout:
                base["rate"] = .double(layer.attributes["rate"]?.doubleValue ?? 0)
                base["seed"] = .null
                base["noise_shape"] = .null
                layers.append(ExportLayer(className: "Dropout", name: name, config: base))
            case .gelu where layer.usesTanhApproximation:
                throw .cannotExport(path: path, reason: "layer \(MessageText.quoted(layer.name)) is a GELU with the tanh approximation, which no "
                                    + "built-in Keras layer expresses (the 'gelu' activation is exact)")
            case .relu, .sigmoid, .tanh, .gelu, .silu, .logSoftmax, .identity:
                let names: [LayerKind: String] = [.relu: "relu", .sigmoid: "sigmoid", .tanh: "tanh", .gelu: "gelu", .silu: "silu",
                                                  .logSoftmax: "log_softmax", .identity: "linear"]
                base["activation"] = .string(names[layer.kind] ?? "linear")
                layers.append(ExportLayer(className: "Activation", name: name, config: base))
            }
        }
        guard let inputFeatures = features else {
            throw .cannotExport(path: path, reason: "the model's input features are unknown (no input shape and no dense layer)")
        }
        return Plan(name: unique(sanitized(model.info.name.isEmpty ? "sequential" : model.info.name), in: &used),
                    inputFeatures: inputFeatures, layers: layers)
    }

    /// The `Sequential` config Keras 3 writes to `config.json` (and, for `.h5`, to `model_config`).
    static func configJSON(_ plan: Plan) -> JSONValue {
        let shape = JSONValue.array([.null, .integer(plan.inputFeatures)])
        let input = JSONObject([("batch_shape", shape), ("dtype", .string("float32")), ("sparse", .bool(false)),
                                ("ragged", .bool(false)), ("name", .string("input_layer")), ("optional", .bool(false))])
        var entries: [JSONValue] = [.object(JSONObject([("module", .string("keras.layers")), ("class_name", .string("InputLayer")),
                                                        ("config", .object(input)), ("registered_name", .null)]))]
        var features = plan.inputFeatures
        for layer in plan.layers {
            var entry = JSONObject([("module", .string("keras.layers")), ("class_name", .string(layer.className)),
                                    ("config", .object(layer.config)), ("registered_name", .null)])
            entry["build_config"] = .object(JSONObject([("input_shape", .array([.null, .integer(features)]))]))
            if layer.className == "Dense", let units = layer.config["units"]?.intValue { features = units }
            entries.append(.object(entry))
        }
        let config = JSONObject([("name", .string(plan.name)), ("trainable", .bool(true)), ("dtype", dtypePolicy),
                                 ("layers", .array(entries)), ("build_input_shape", shape)])
        return .object(JSONObject([("module", .string("keras")), ("class_name", .string("Sequential")), ("config", .object(config)),
                                   ("registered_name", .null),
                                   ("build_config", .object(JSONObject([("input_shape", shape)]))), ("compile_config", .null)]))
    }

    private static var dtypePolicy: JSONValue {
        kerasObject("keras", "DTypePolicy", JSONObject([("name", .string("float32"))]))
    }

    private static func kerasObject(_ module: String, _ className: String, _ config: JSONObject) -> JSONValue {
        .object(JSONObject([("module", .string(module)), ("class_name", .string(className)), ("config", .object(config)),
                            ("registered_name", .null)]))
    }

    private static func sanitized(_ name: String) -> String {
        let cleaned = String(name.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        return cleaned.isEmpty ? "layer" : cleaned
    }

    private static func unique(_ name: String, in used: inout Set<String>) -> String {
        var candidate = name
        var counter = 1
        while used.contains(candidate) {
            candidate = "\(name)_\(counter)"
            counter += 1
        }
        used.insert(candidate)
        return candidate
    }
}
