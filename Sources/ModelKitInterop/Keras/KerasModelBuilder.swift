import ModelKitCore

/// Builds a ModelKit ``Model`` from a Keras config and the weights the file holds (K8, K16, K17).
enum KerasModelBuilder {
    /// Where the model came from, for ``ModelInfo``.
    struct Origin {
        var path: String
        var fileFormat: String
        var kerasVersion: String?
        var backend: String?
    }

    static func build(_ config: KerasModelConfig, weights: KerasWeightReader, origin: Origin) throws(KerasError) -> Model {
        let path = origin.path
        var planned: [KerasPlannedLayer] = []
        for layer in config.layers { planned += try KerasLayerMapping.plan(layer, path: path) }

        var layers: [Layer] = []
        var tensors: [ModelTensor] = []
        var usedNames: Set<String> = []
        var features = config.inputFeatures
        var inputFeatures = config.inputFeatures
        var denseIndex = 0
        for step in planned {
            switch step {
            case .layer(var layer):
                layer.name = unique(layer.name, in: &usedNames)
                layers.append(layer)
            case .dense(let name, let units, let useBias):
                let read = try weights.denseWeights(layer: name, denseIndex: denseIndex, useBias: useBias)
                denseIndex += 1
                let rows = read.kernel.shape.count == 2 ? read.kernel.shape[0] : -1
                let expectedInput = features ?? (rows > 0 ? rows : 1)
                guard read.kernel.shape == [expectedInput, units] else {
                    throw .weightShape(path: path, layer: name, weight: "kernel", expected: [expectedInput, units], actual: read.kernel.shape)
                }
                if inputFeatures == nil && layers.isEmpty && tensors.isEmpty { inputFeatures = expectedInput }
                let layerName = unique(name, in: &usedNames)
                var parameters = ["weight": "\(name)/kernel"]
                tensors.append(ModelTensor(name: "\(name)/kernel", tensor: Tensor(float32: read.kernel.values, shape: Shape(read.kernel.shape)),
                                           layout: .inOut, layoutSource: .convention))
                if let bias = read.bias {
                    guard bias.shape == [units] else {
                        throw .weightShape(path: path, layer: name, weight: "bias", expected: [units], actual: bias.shape)
                    }
                    parameters["bias"] = "\(name)/bias"
                    tensors.append(ModelTensor(name: "\(name)/bias", tensor: Tensor(float32: bias.values, shape: Shape(bias.shape))))
                }
                layers.append(Layer(name: layerName, kind: .dense, parameters: parameters))
                features = units
            }
        }
        guard denseIndex > 0 || inputFeatures != nil else {
            throw .unsupportedArchitecture(path: path, reason: "the model has no Dense layer and no declared input shape")
        }
        var metadata = ["keras_model_name": config.modelName, "keras_file_format": origin.fileFormat]
        if let version = origin.kerasVersion { metadata["keras_version"] = version }
        if let backend = origin.backend { metadata["keras_backend"] = backend }
        if let sample = config.flattenedInput {
            metadata["flattened_input_shape"] = "[" + sample.map(String.init).joined(separator: ", ") + "]"
        }
        let info = ModelInfo(name: modelName(path), producer: origin.kerasVersion.map { "keras \($0)" } ?? "keras",
                             sourceFormat: "keras", inputShape: [nil, inputFeatures], metadata: metadata)
        return Model(info: info, layers: layers, tensors: tensors)
    }

    /// `name`, or `name_2`, `name_3`, … when it is taken.
    private static func unique(_ name: String, in used: inout Set<String>) -> String {
        var candidate = name
        var counter = 2
        while used.contains(candidate) {
            candidate = "\(name)_\(counter)"
            counter += 1
        }
        used.insert(candidate)
        return candidate
    }

    /// The file's name without directories and extension.
    static func modelName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }
}
