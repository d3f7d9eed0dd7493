/// Shape validation: walks every layer, infers shapes, and reports every problem rather than stopping at the first.
extension Model {
    /// Walks the model from its input, inferring each layer's shapes and checking every parameter.
    ///
    /// A dense weight whose transpose would fit is reported as "looks transposed" with the flag that fixes it; a
    /// square weight, whose layout shapes cannot confirm, gets a warning that says which convention decided it.
    public func analyze() -> ModelAnalysis {
        var issues: [ValidationIssue] = []
        var summaries: [LayerSummary] = []
        var totalParameters = 0
        var totalBytes = 0
        checkNames(into: &issues)

        if info.inputShape.count != 2 {
            issues.append(ValidationIssue(.error, "model input shape \(Self.describe(info.inputShape)) is not [batch, features]",
                                          fix: "set model.input.shape to [null, FEATURES]"))
        }
        // Features flowing into the next layer; nil once unknown (after an unrecoverable error).
        var features: Int? = info.inputFeatures
        for layer in layers {
            let input: [Int?] = [nil, features]
            var summary = LayerSummary(name: layer.name, kind: layer.kind, inputShape: input, outputShape: input,
                                       parameterCount: 0, parameterBytes: 0)
            for (role, tensorName) in layer.parameters.sorted(by: { $0.key < $1.key }) {
                guard let parameter = tensor(named: tensorName) else {
                    issues.append(ValidationIssue(.error, layer: layer.name, tensor: tensorName,
                                                  "\(role) tensor '\(tensorName)' is not in the model"))
                    continue
                }
                summary.parameterCount += parameter.tensor.elementCount
                summary.parameterBytes += parameter.tensor.byteCount
            }
            let known = Set(layer.kind.parameterRoles.required + layer.kind.parameterRoles.optional)
            for role in layer.parameters.keys.sorted() where !known.contains(role) {
                issues.append(ValidationIssue(.error, layer: layer.name, "\(layer.kind.rawValue) layer has no parameter role '\(role)'",
                                              fix: "expected roles: \(known.isEmpty ? "none" : known.sorted().joined(separator: ", "))"))
            }
            if layer.kind == .dense {
                features = checkDense(layer, inputFeatures: features, summary: &summary, issues: &issues)
            } else {
                checkActivation(layer, issues: &issues)
            }
            summary.outputShape = [nil, features]
            totalParameters += summary.parameterCount
            totalBytes += summary.parameterBytes
            summaries.append(summary)
        }
        return ModelAnalysis(layers: summaries, issues: issues, totalParameters: totalParameters,
                             totalParameterBytes: totalBytes, outputShape: [nil, features])
    }

    private func checkNames(into issues: inout [ValidationIssue]) {
        var seen = Set<String>()
        for layer in layers {
            if layer.name.isEmpty { issues.append(ValidationIssue(.error, "a \(layer.kind.rawValue) layer has an empty name")) }
            if !seen.insert(layer.name).inserted {
                issues.append(ValidationIssue(.error, layer: layer.name, "layer name is used twice"))
            }
        }
    }

    private func checkActivation(_ layer: Layer, issues: inout [ValidationIssue]) {
        switch layer.kind {
        case .softmax, .logSoftmax:
            if layer.axis != -1 && layer.axis != 1 {
                issues.append(ValidationIssue(.error, layer: layer.name, "\(layer.kind.rawValue) over axis \(layer.axis) of a [batch, features] tensor",
                                              likelyCause: "the model was built for feature-major inputs",
                                              fix: "use axis -1 (the features)"))
            }
        case .leakyRelu:
            if let alpha = layer.attributes["alpha"], alpha.doubleValue == nil {
                issues.append(ValidationIssue(.error, layer: layer.name, "attribute 'alpha' must be a number, not \(alpha.typeName)"))
            }
        case .gelu:
            if let mode = layer.attributes["approximate"], mode.stringValue != "none", mode.stringValue != "tanh" {
                issues.append(ValidationIssue(.error, layer: layer.name, "attribute 'approximate' must be \"none\" or \"tanh\""))
            }
        default:
            break
        }
    }

    /// Checks a dense layer and returns its output feature count (nil when it cannot be told).
    private func checkDense(_ layer: Layer, inputFeatures: Int?, summary: inout LayerSummary,
                            issues: inout [ValidationIssue]) -> Int? {
        guard let weightName = layer.parameters["weight"], let weight = tensor(named: weightName) else {
            if layer.parameters["weight"] == nil {
                issues.append(ValidationIssue(.error, layer: layer.name, "dense layer has no weight"))
            }
            return nil
        }
        let shape = weight.tensor.shape
        summary.weightShape = shape
        summary.dtype = weight.tensor.dtype
        guard shape.rank == 2 else {
            issues.append(ValidationIssue(.error, layer: layer.name, tensor: weightName,
                                          "weight '\(weightName)' has shape \(shape); a dense weight is 2-D"))
            return nil
        }
        guard weight.tensor.dtype.isFloatingPoint else {
            issues.append(ValidationIssue(.error, layer: layer.name, tensor: weightName,
                                          "weight '\(weightName)' is \(weight.tensor.dtype.rawValue); dense weights are floating point"))
            return nil
        }
        let rows = shape.dimensions[0], columns = shape.dimensions[1]
        guard let layout = weight.layout else {
            issues.append(ValidationIssue(.error, layer: layer.name, tensor: weightName,
                                          "weight '\(weightName)' \(shape) has no layout tag",
                                          fix: "convert with --weight-layout out-in (PyTorch) or --weight-layout in-out (Keras)"))
            return nil
        }
        summary.weightLayout = layout
        summary.weightLayoutSource = weight.layoutSource
        var (inFeatures, outFeatures) = layout.features(rows: rows, columns: columns)
        if rows == columns {
            let source: String
            switch weight.layoutSource {
            case .declared: source = "as the source file or a flag declared"
            case .convention: source = "by the \(info.sourceFormat) convention for square weights"
            case .shape, nil: source = "as tagged"
            }
            issues.append(ValidationIssue(.warning, layer: layer.name, tensor: weightName,
                                          "square weight '\(weightName)' \(shape): layout cannot be checked by shape; read as \(layout.rawValue) \(layout.axesDescription) \(source)",
                                          fix: "if outputs look wrong, convert with --weight-layout \(layout.swapped.flagValue)"))
        }
        if let inputFeatures, inFeatures != inputFeatures {
            let swapped = layout.swapped.features(rows: rows, columns: columns)
            if swapped.input == inputFeatures {
                issues.append(ValidationIssue(
                    .error, layer: layer.name, tensor: weightName,
                    "weight '\(weightName)' looks transposed: it is stored as \(shape) tagged \(layout.rawValue) \(layout.axesDescription), but the layer receives \(inputFeatures) features, so \(layout.rawValue) needs \(Self.expected(layout, input: inputFeatures)); read as \(layout.swapped.rawValue) \(layout.swapped.axesDescription) it fits",
                    likelyCause: layout == .inOut
                        ? "a PyTorch-style [out, in] weight was labelled as Keras-style [in, out]"
                        : "a Keras-style [in, out] weight was labelled as PyTorch-style [out, in]",
                    fix: "convert with --weight-layout \(layout.swapped.flagValue)"))
                (inFeatures, outFeatures) = swapped
            } else {
                issues.append(ValidationIssue(
                    .error, layer: layer.name, tensor: weightName,
                    "weight '\(weightName)' \(shape) tagged \(layout.rawValue) takes \(inFeatures) input features, but the previous layer gives \(inputFeatures); expected \(Self.expected(layout, input: inputFeatures))",
                    likelyCause: "layers are out of order or the weights belong to another architecture"))
            }
        }
        if let biasName = layer.parameters["bias"], let bias = tensor(named: biasName) {
            if bias.tensor.shape != Shape([outFeatures]) {
                issues.append(ValidationIssue(.error, layer: layer.name, tensor: biasName,
                                              "bias '\(biasName)' has shape \(bias.tensor.shape); expected [\(outFeatures)] (the layer's output features)"))
            }
        }
        return outFeatures
    }

    private static func expected(_ layout: WeightLayout, input: Int) -> String {
        layout == .inOut ? "[\(input), out]" : "[out, \(input)]"
    }

    /// `[batch, 400]` style text for a shape with dynamic dimensions.
    public static func describe(_ shape: [Int?]) -> String {
        "[" + shape.enumerated().map { index, dimension in dimension.map(String.init) ?? (index == 0 ? "batch" : "?") }
            .joined(separator: ", ") + "]"
    }
}
