import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// An independent float64 forward pass, written as plainly as possible: the engine's results are checked against it.
enum ReferenceForward {
    static func activation(_ kind: LayerKind, _ x: Double, layer: Layer) -> Double {
        switch kind {
        case .relu: return x.isNaN ? x : max(x, 0)
        case .leakyRelu: return x < 0 ? Double(layer.alpha) * x : x
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        case .gelu:
            if layer.usesTanhApproximation {
                return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
            }
            return 0.5 * x * Foundation.erfc(-x / 2.0.squareRoot())
        case .silu: return x / (1 + Foundation.exp(-x))
        case .identity, .dropout, .dense, .softmax, .logSoftmax: return x
        }
    }

    static func softmax(_ row: [Double], log: Bool) -> [Double] {
        let maximum = row.max() ?? 0
        let sum = row.map { Foundation.exp($0 - maximum) }.reduce(0, +)
        return row.map { log ? ($0 - maximum) - Foundation.log(sum) : Foundation.exp($0 - maximum) / sum }
    }

    /// The output rows of `model` for `rows`, every weight read as float64 from its stored dtype.
    static func run(_ model: Model, _ rows: [[Double]]) -> [[Double]] {
        var current = rows
        for layer in model.layers {
            switch layer.kind {
            case .dense:
                guard let weight = model.parameter("weight", of: layer), let layout = weight.layout else { fatalError("test model") }
                let (r, c) = (weight.tensor.shape.dimensions[0], weight.tensor.shape.dimensions[1])
                let (inputs, outputs) = layout.features(rows: r, columns: c)
                let bias = model.parameter("bias", of: layer)
                current = current.map { x in
                    (0..<outputs).map { j in
                        var sum = bias.map { $0.tensor.element(at: j) } ?? 0
                        for i in 0..<inputs {
                            let w = layout == .inOut ? weight.tensor.element(at: i * outputs + j) : weight.tensor.element(at: j * inputs + i)
                            sum += x[i] * w
                        }
                        return sum
                    }
                }
            case .softmax, .logSoftmax:
                current = current.map { softmax($0, log: layer.kind == .logSoftmax) }
            default:
                current = current.map { $0.map { activation(layer.kind, $0, layer: layer) } }
            }
        }
        return current
    }
}

/// Models and inputs built in code for the engine's tests.
enum EngineFixtures {
    /// Deterministic values in `-scale...scale`.
    static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) }
    }

    /// A model of activation layers only (no weights): the engine's output is the activations of the input.
    static func activations(_ layers: [Layer], features: Int) -> Model {
        Model(info: ModelInfo(name: "activations", producer: "tests", sourceFormat: "modelkit", inputShape: [nil, features]),
              layers: layers)
    }

    /// One dense layer `inputs → outputs` holding `weights` (row-major in `layout`) and `bias`, then `after`.
    static func dense(inputs: Int, outputs: Int, weights: [Float], bias: [Float]?, layout: WeightLayout,
                      after: [Layer] = [], dtype: DType = .float32) throws -> Model {
        var model = Model(info: ModelInfo(name: "dense", producer: "tests", sourceFormat: "modelkit", inputShape: [nil, inputs]))
        let shape: Shape = layout == .inOut ? [inputs, outputs] : [outputs, inputs]
        model.addTensor(ModelTensor(name: "fc.weight", tensor: try Tensor(float32: weights, shape: shape).converted(to: dtype),
                                    layout: layout, layoutSource: .declared))
        var parameters = ["weight": "fc.weight"]
        if let bias {
            model.addTensor(ModelTensor(name: "fc.bias", tensor: try Tensor(float32: bias, shape: [outputs]).converted(to: dtype)))
            parameters["bias"] = "fc.bias"
        }
        model.layers = [Layer(name: "fc", kind: .dense, parameters: parameters)] + after
        return model
    }

    /// Rows of a flat row-major array.
    static func rows(_ flat: [Float], width: Int) -> [[Double]] {
        stride(from: 0, to: flat.count, by: max(width, 1)).map { flat[$0..<($0 + width)].map(Double.init) }
    }
}

/// Fails unless every value is within `absolute + relative·|expected|` of the float64 reference.
func assertMatchesReference(_ actual: [Float], _ expected: [[Double]], absolute: Double = 1e-6, relative: Double = 1e-5,
                            _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    let flat = expected.flatMap { $0 }
    guard actual.count == flat.count else {
        XCTFail("got \(actual.count) values, expected \(flat.count) \(message)", file: file, line: line)
        return
    }
    for index in flat.indices {
        let error = abs(Double(actual[index]) - flat[index])
        if !(error <= absolute + relative * abs(flat[index])) && !(actual[index].isNaN && flat[index].isNaN) {
            XCTFail("value \(index): \(actual[index]) vs reference \(flat[index]) (error \(error)) \(message)", file: file, line: line)
            return
        }
    }
}
