import ModelKit

/// Small models built in code for tests.
public enum SampleModels {
    /// A dense network with the given layer widths, ReLU between layers, deterministic weights in `layout`.
    public static func dense(_ widths: [Int], layout: WeightLayout = .outIn, dtype: DType = .float32, seed: UInt64 = 1,
                             finalActivation: LayerKind? = .softmax) -> Model {
        var generator = SplitMix64(seed: seed)
        var model = Model(info: ModelInfo(name: "sample", producer: "ModelKitTestSupport", sourceFormat: "modelkit",
                                          inputShape: [nil, widths[0]]))
        for index in 0..<(widths.count - 1) {
            let (input, output) = (widths[index], widths[index + 1])
            let name = "fc\(index + 1)"
            let shape: Shape = layout == .outIn ? [output, input] : [input, output]
            let bound = 1 / Float(input).squareRoot()
            let weights = (0..<(input * output)).map { _ in Float.random(in: -bound...bound, using: &generator) }
            let bias = (0..<output).map { _ in Float.random(in: -bound...bound, using: &generator) }
            var weight = Tensor(float32: weights, shape: shape)
            var biasTensor = Tensor(float32: bias, shape: [output])
            if dtype != .float32, let w = try? weight.converted(to: dtype), let b = try? biasTensor.converted(to: dtype) {
                weight = w
                biasTensor = b
            }
            model.addTensor(ModelTensor(name: "\(name).weight", tensor: weight, layout: layout,
                                        layoutSource: input == output ? .convention : .shape))
            model.addTensor(ModelTensor(name: "\(name).bias", tensor: biasTensor))
            model.layers.append(Layer(name: name, kind: .dense, parameters: ["weight": "\(name).weight", "bias": "\(name).bias"]))
            if index < widths.count - 2 {
                model.layers.append(Layer(name: "relu\(index + 1)", kind: .relu))
            } else if let finalActivation {
                model.layers.append(Layer(name: "out", kind: finalActivation))
            }
        }
        return model
    }
}
