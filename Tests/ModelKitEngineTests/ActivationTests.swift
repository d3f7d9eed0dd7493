import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// Every activation kind, on hand-checkable values and against float64 loops, both standalone (a model of
/// activations only) and fused into a dense layer's epilogue.
final class ActivationTests: XCTestCase {
    /// Runs an activation-only model on one row.
    private func run(_ layers: [Layer], _ values: [Float]) throws -> [Float] {
        let session = try InferenceSession(model: EngineFixtures.activations(layers, features: values.count))
        return try session.predict(values, batchSize: 1)
    }

    /// Runs `layers` after a dense layer holding the identity matrix (zero bias), so the activation runs fused.
    private func runFused(_ layers: [Layer], _ values: [Float], layout: WeightLayout = .outIn) throws -> [Float] {
        let n = values.count
        var identity = [Float](repeating: 0, count: n * n)
        for index in 0..<n { identity[index * n + index] = 1 }
        let model = try EngineFixtures.dense(inputs: n, outputs: n, weights: identity, bias: [Float](repeating: 0, count: n),
                                             layout: layout, after: layers)
        return try InferenceSession(model: model).predict(values, batchSize: 1)
    }

    // MARK: Hand-checkable values

    func testReLUHandValues() throws {
        XCTAssertEqual(try run([Layer(name: "a", kind: .relu)], [-2, -0.5, 0, 0.5, 3]), [0, 0, 0, 0.5, 3])
    }

    func testLeakyReLUDefaultAndCustomAlpha() throws {
        XCTAssertEqual(try run([Layer(name: "a", kind: .leakyRelu)], [-2, 0, 4]), [-0.02, 0, 4])
        let custom = Layer(name: "a", kind: .leakyRelu, attributes: JSONObject([("alpha", .double(0.25))]))
        XCTAssertEqual(try run([custom], [-2, -1, 1]), [-0.5, -0.25, 1])
    }

    func testSigmoidHandValues() throws {
        let result = try run([Layer(name: "a", kind: .sigmoid)], [0, 1, -1, 40, -40])
        // σ(1) = 1/(1 + e⁻¹) = 0.7310585786300049; σ(−40) = 4.248354255291589e-18.
        assertClose(result, [0.5, 0.731_058_58, 0.268_941_42, 1, 4.248_354_3e-18], rtol: 1e-6, atol: 0)
    }

    func testTanhHandValues() throws {
        let result = try run([Layer(name: "a", kind: .tanh)], [0, 0.5, -0.5, 1, 20, -20])
        // tanh(0.5) = 0.46211715726000974, tanh(1) = 0.7615941559557649.
        assertClose(result, [0, 0.462_117_16, -0.462_117_16, 0.761_594_16, 1, -1], rtol: 1e-6, atol: 0)
    }

    func testGELUExactHandValues() throws {
        let result = try run([Layer(name: "a", kind: .gelu)], [0, 1, -1, 2, -3])
        // x·Φ(x): Φ(1) = 0.8413447460685429, Φ(2) = 0.9772498680518208, Φ(−3) = 0.0013498980316300933.
        assertClose(result, [0, 0.841_344_75, -0.158_655_25, 1.954_499_7, -0.004_049_694], rtol: 2e-6, atol: 0)
    }

    func testGELUTanhApproximationHandValues() throws {
        let layer = Layer(name: "a", kind: .gelu, attributes: JSONObject([("approximate", .string("tanh"))]))
        let result = try run([layer], [0, 1, -1, 2])
        // ½·x·(1 + tanh(√(2/π)(x + 0.044715x³))): 0.8411919906082768 at 1, 1.9545976940871754 at 2.
        assertClose(result, [0, 0.841_191_99, -0.158_808_01, 1.954_597_7], rtol: 2e-6, atol: 0)
        // The two GELU forms differ measurably at 1: the attribute is honoured.
        XCTAssertNotEqual(result[1], try run([Layer(name: "a", kind: .gelu)], [1])[0])
    }

    func testSiLUHandValues() throws {
        let result = try run([Layer(name: "a", kind: .silu)], [0, 1, -1, 10])
        // x·σ(x): 0.7310585786300049, −0.2689414213699951, 9.999546021312975.
        assertClose(result, [0, 0.731_058_58, -0.268_941_42, 9.999_546], rtol: 1e-6, atol: 0)
    }

    func testSoftmaxHandValues() throws {
        let result = try run([Layer(name: "a", kind: .softmax)], [1, 2, 3])
        // e^k / (e + e² + e³).
        assertClose(result, [0.090_030_57, 0.244_728_47, 0.665_240_96], rtol: 1e-6, atol: 0)
    }

    func testSoftmaxIsStableForLargeInputs() throws {
        // Without subtracting the row maximum, e^1000 overflows to infinity and the result is NaN.
        let result = try run([Layer(name: "a", kind: .softmax)], [1000, 1001, 1002])
        assertClose(result, [0.090_030_57, 0.244_728_47, 0.665_240_96], rtol: 1e-6, atol: 0)
    }

    func testLogSoftmaxHandValues() throws {
        let result = try run([Layer(name: "a", kind: .logSoftmax)], [1, 2, 3, 1000])
        // x − 1000 − log(1 + e^-997 + …) = x − 1000 (to float precision).
        assertClose(result, [-999, -998, -997, 0], rtol: 1e-7, atol: 1e-6)
        let small = try run([Layer(name: "a", kind: .logSoftmax)], [1, 2, 3])
        // log softmax of [1, 2, 3]: −2.40760596, −1.40760596, −0.40760596.
        assertClose(small, [-2.407_606, -1.407_606, -0.407_606], rtol: 1e-6, atol: 0)
    }

    func testIdentityAndDropoutAreIdentityAtInference() throws {
        let values: [Float] = [-1.5, 0, 2.25, 7]
        XCTAssertEqual(try run([Layer(name: "a", kind: .identity)], values), values)
        let dropout = Layer(name: "d", kind: .dropout, attributes: JSONObject([("rate", .double(0.5))]))
        XCTAssertEqual(try run([dropout], values), values)
        XCTAssertEqual(try run([], values), values)
    }

    // MARK: Float64 reference loops

    /// A grid wide enough to reach both tails of every function, plus the odd widths that exercise vector tails.
    private var grid: [Float] {
        var values: [Float] = stride(from: -12, through: 12, by: 0.037).map { Float($0) }
        values += [-100, -88, -40, -1e-3, -1e-7, 0, 1e-7, 1e-3, 40, 88, 100]
        return values
    }

    private let elementwiseLayers: [Layer] = [
        Layer(name: "relu", kind: .relu),
        Layer(name: "leaky", kind: .leakyRelu, attributes: JSONObject([("alpha", .double(0.1))])),
        Layer(name: "sigmoid", kind: .sigmoid),
        Layer(name: "tanh", kind: .tanh),
        Layer(name: "gelu", kind: .gelu, attributes: JSONObject([("approximate", .string("none"))])),
        Layer(name: "gelu_tanh", kind: .gelu, attributes: JSONObject([("approximate", .string("tanh"))])),
        Layer(name: "silu", kind: .silu),
    ]

    func testEveryElementwiseActivationAgainstFloat64() throws {
        let values = grid
        for layer in elementwiseLayers {
            let expected = [values.map { ReferenceForward.activation(layer.kind, Double($0), layer: layer) }]
            assertMatchesReference(try run([layer], values), expected, absolute: 1e-6, relative: 2e-6, "standalone \(layer.name)")
        }
    }

    func testFusedActivationsMatchStandalone() throws {
        // Width 37: four full vectors plus a tail of 5, so both code paths run.
        let values = EngineFixtures.values(37, seed: 11, scale: 6)
        for layer in elementwiseLayers {
            let expected = [values.map { ReferenceForward.activation(layer.kind, Double($0), layer: layer) }]
            for layout in WeightLayout.allCases {
                assertMatchesReference(try runFused([layer], values, layout: layout), expected, absolute: 1e-6, relative: 2e-6,
                                       "fused \(layer.name) \(layout)")
            }
        }
    }

    func testChainedActivationsAndSoftmaxAgainstFloat64() throws {
        let layers = [Layer(name: "t", kind: .tanh), Layer(name: "s", kind: .softmax), Layer(name: "g", kind: .gelu),
                      Layer(name: "l", kind: .logSoftmax), Layer(name: "r", kind: .relu)]
        let values = EngineFixtures.values(3 * 21, seed: 5, scale: 4)
        let rows = EngineFixtures.rows(values, width: 21)
        let model = EngineFixtures.activations(layers, features: 21)
        let output = try InferenceSession(model: model).predict(values, batchSize: 3)
        assertMatchesReference(output, ReferenceForward.run(model, rows), absolute: 1e-6, relative: 1e-5)
        let fused = try runFused(layers, Array(values[0..<21]))
        assertMatchesReference(fused, [ReferenceForward.run(model, [rows[0]])[0]], absolute: 1e-6, relative: 1e-5)
    }

    func testSoftmaxRowsSumToOneOverManyWidths() throws {
        for width in [1, 2, 7, 8, 9, 16, 33, 100] {
            let values = EngineFixtures.values(4 * width, seed: UInt64(width), scale: 30)
            let output = try InferenceSession(model: EngineFixtures.activations([Layer(name: "s", kind: .softmax)], features: width))
                .predict(values, batchSize: 4)
            let model = EngineFixtures.activations([Layer(name: "s", kind: .softmax)], features: width)
            assertMatchesReference(output, ReferenceForward.run(model, EngineFixtures.rows(values, width: width)),
                                   absolute: 1e-7, relative: 2e-6, "width \(width)")
        }
    }

    func testNaNPropagatesThroughActivations() throws {
        for layer in elementwiseLayers {
            let result = try run([layer], [.nan, 1])
            XCTAssertTrue(result[0].isNaN, "\(layer.name) of NaN should be NaN, got \(result[0])")
        }
        XCTAssertTrue(try run([Layer(name: "s", kind: .softmax)], [.nan, 1, 2]).allSatisfy(\.isNaN))
    }
}
