import ModelKit

/// Small models for the rule tests, built in code.
enum TestModels {
    /// Dense layers of `widths`, with `activations[i]` (any parameter-free layers) after dense layer `i`.
    static func chain(_ widths: [Int], activations: [[Layer]], layout: WeightLayout = .outIn, bias: Bool = true,
                      seed: UInt64 = 7) -> Model {
        var random = TrainingRandom(seed: seed)
        var model = Model(info: ModelInfo(name: "test", producer: "ModelKitTrainingTests", sourceFormat: "modelkit",
                                          inputShape: [nil, widths[0]]))
        for index in 0..<(widths.count - 1) {
            let (input, output) = (widths[index], widths[index + 1])
            let name = "fc\(index + 1)"
            let bound = 1 / Float(input).squareRoot()
            let values = (0..<(input * output)).map { _ in (random.nextUnitFloat() * 2 - 1) * bound * 2 }
            let shape: Shape = layout == .outIn ? [output, input] : [input, output]
            model.addTensor(ModelTensor(name: "\(name).weight", tensor: Tensor(float32: values, shape: shape), layout: layout,
                                        layoutSource: .declared))
            var parameters = ["weight": "\(name).weight"]
            if bias {
                let biasValues = (0..<output).map { _ in (random.nextUnitFloat() * 2 - 1) * bound }
                model.addTensor(ModelTensor(name: "\(name).bias", tensor: Tensor(float32: biasValues, shape: [output])))
                parameters["bias"] = "\(name).bias"
            }
            model.layers.append(Layer(name: name, kind: .dense, parameters: parameters))
            if index < activations.count { model.layers.append(contentsOf: activations[index]) }
        }
        return model
    }

    static func layer(_ kind: LayerKind, _ name: String? = nil, attributes: [(String, JSONValue)] = []) -> Layer {
        Layer(name: name ?? kind.rawValue + "_\(kind.hashValue & 0xFFFF)", kind: kind, attributes: JSONObject(attributes))
    }

    /// `rows × features` inputs in [-2, 2).
    static func inputs(rows: Int, features: Int, seed: UInt64 = 11) -> [Float] {
        var random = TrainingRandom(seed: seed)
        return (0..<(rows * features)).map { _ in random.nextUnitFloat() * 4 - 2 }
    }

    /// Targets that suit `loss` for `rows × columns` outputs.
    static func targets(for loss: LossFunction, rows: Int, columns: Int, probabilities: Bool = false,
                        seed: UInt64 = 13) -> TrainingTargets {
        var random = TrainingRandom(seed: seed)
        switch loss {
        case .crossEntropy where !probabilities:
            return .classes((0..<rows).map { _ in Int64(random.nextInt(below: columns)) })
        case .crossEntropy:
            var values: [Float] = []
            for _ in 0..<rows {
                let row = (0..<columns).map { _ in random.nextUnitFloat() + 0.1 }
                let sum = row.reduce(0, +)
                values += row.map { $0 / sum }
            }
            return .values(values, columns: columns)
        case .binaryCrossEntropy:
            return .values((0..<(rows * columns)).map { _ in random.nextUnitFloat() < 0.5 ? 0 : 1 }, columns: columns)
        case .mse, .sseHalf:
            return .values((0..<(rows * columns)).map { _ in random.nextUnitFloat() * 2 - 1 }, columns: columns)
        }
    }
}
