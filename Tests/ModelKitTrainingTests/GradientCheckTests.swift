import ModelKit
import XCTest

/// `Specs/layers.md` "Backward" of every kind, checked against central finite differences in float64
/// (`GradientCheck`), in both weight layouts and with every loss.
final class GradientCheckTests: XCTestCase {
    /// Smooth rules agree to ~1e-9; the bound leaves room for h = 1e-6 truncation and rounding only.
    private let tight = 1e-6

    private func check(_ activation: [Layer], loss: LossFunction = .mse, layout: WeightLayout = .outIn,
                       final: [Layer] = [], probabilities: Bool = false, l2: Double = 0, bound: Double? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let model = TestModels.chain([5, 7, 6, 3], activations: [activation, activation, final], layout: layout)
        let rows = 4
        let result = try GradientCheck.run(model: model, inputs: TestModels.inputs(rows: rows, features: 5),
                                           targets: TestModels.targets(for: loss, rows: rows, columns: 3, probabilities: probabilities),
                                           loss: loss, l2: l2)
        XCTAssertEqual(result.parameters.count, 6, file: file, line: line)
        XCTAssertEqual(result.worstByLayer.map(\.layer), ["fc1", "fc2", "fc3"], file: file, line: line)
        for entry in result.parameters {
            XCTAssertGreaterThan(entry.checkedElements, 0, file: file, line: line)
            XCTAssertLessThan(entry.worstRelativeError, bound ?? tight,
                              "\(entry.tensor)[\(entry.worstIndex)]: analytic \(entry.analytic) numeric \(entry.numeric)",
                              file: file, line: line)
        }
    }

    func testBackward_dense_outIn() throws { try check([]) }
    func testBackward_dense_inOut() throws { try check([], layout: .inOut) }
    func testBackward_relu() throws { try check([TestModels.layer(.relu, "a")]) }
    func testBackward_leakyRelu() throws {
        try check([TestModels.layer(.leakyRelu, "a", attributes: [("alpha", .double(0.1))])], layout: .inOut)
    }
    func testBackward_sigmoid() throws { try check([TestModels.layer(.sigmoid, "a")]) }
    func testBackward_tanh() throws { try check([TestModels.layer(.tanh, "a")], layout: .inOut) }
    func testBackward_geluExact() throws { try check([TestModels.layer(.gelu, "a")]) }
    func testBackward_geluTanh() throws {
        try check([TestModels.layer(.gelu, "a", attributes: [("approximate", .string("tanh"))])], layout: .inOut)
    }
    func testBackward_silu() throws { try check([TestModels.layer(.silu, "a")]) }
    func testBackward_softmaxInside() throws { try check([TestModels.layer(.softmax, "a")]) }
    func testBackward_logSoftmaxInside() throws { try check([TestModels.layer(.logSoftmax, "a")], layout: .inOut) }
    func testBackward_identity() throws { try check([TestModels.layer(.identity, "a")]) }
    func testBackward_dropoutIsIdentityOutsideTraining() throws {
        try check([TestModels.layer(.dropout, "a", attributes: [("rate", .double(0.5))])])
    }

    func testLoss_mse() throws { try check([TestModels.layer(.tanh, "a")], loss: .mse) }
    func testLoss_sseHalf() throws { try check([TestModels.layer(.sigmoid, "a")], loss: .sseHalf) }
    func testLoss_crossEntropyClassIDs() throws { try check([TestModels.layer(.tanh, "a")], loss: .crossEntropy) }
    func testLoss_crossEntropyFusedSoftmax() throws {
        try check([TestModels.layer(.tanh, "a")], loss: .crossEntropy, final: [TestModels.layer(.softmax, "out")])
    }
    func testLoss_crossEntropyProbabilities() throws {
        try check([TestModels.layer(.silu, "a")], loss: .crossEntropy, probabilities: true)
    }
    func testLoss_binaryCrossEntropyFusedSigmoid() throws {
        try check([TestModels.layer(.gelu, "a")], loss: .binaryCrossEntropy, final: [TestModels.layer(.sigmoid, "out")])
    }
    func testLoss_mseThroughFinalSoftmax() throws {
        // MSE does not fuse: the gradient goes through the softmax rule.
        try check([TestModels.layer(.tanh, "a")], loss: .mse, final: [TestModels.layer(.softmax, "out")])
    }
    func testLoss_l2Penalty() throws { try check([TestModels.layer(.tanh, "a")], loss: .mse, l2: 0.05) }

    /// The float32 trainer's gradients equal the float64 rules' to float32 rounding.
    func testFloat32GradientsMatchFloat64Rules() throws {
        let model = TestModels.chain([5, 7, 6, 3], activations: [[TestModels.layer(.gelu, "a")], [TestModels.layer(.silu, "b")]])
        let inputs = TestModels.inputs(rows: 4, features: 5)
        let targets = TestModels.targets(for: .crossEntropy, rows: 4, columns: 3)
        let trainer = try Trainer(model: model, configuration: TrainingConfiguration(loss: .crossEntropy, optimizer: .sgd(learningRate: 0.1)))
        try trainer.forward(inputs, rows: 4)
        _ = try trainer.computeLoss(targets: targets)
        trainer.backward()
        let result = try GradientCheck.run(model: model, inputs: inputs, targets: targets, loss: .crossEntropy)
        XCTAssertLessThan(result.worstRelativeError, 1e-6)
        // Compare float32 analytic with float64 numeric: float32 rounding only.
        for (gradient, entry) in zip(trainer.gradients, result.parameters) {
            XCTAssertEqual(gradient.name, entry.tensor)
            let values = gradient.tensor.floatValues()
            XCTAssertEqual(Double(values[entry.worstIndex]), entry.numeric, accuracy: 1e-5 * max(1, abs(entry.numeric)))
        }
    }

    /// Weight gradients keep the weight's layout: the in_out gradient is the transpose of the out_in one.
    func testDenseGradientHasWeightShapeAndLayout() throws {
        let outIn = TestModels.chain([4, 3, 2], activations: [[TestModels.layer(.tanh, "a")]], layout: .outIn)
        var inOut = outIn
        try inOut.updateTensors { tensor in
            if tensor.layout == .outIn {
                tensor.tensor = try tensor.tensor.transposed2D()
                tensor.layout = .inOut
            }
        }
        let inputs = TestModels.inputs(rows: 3, features: 4)
        let targets = TestModels.targets(for: .mse, rows: 3, columns: 2)
        var gradients: [[ModelTensor]] = []
        for model in [outIn, inOut] {
            let trainer = try Trainer(model: model, configuration: TrainingConfiguration(loss: .mse, optimizer: .sgd(learningRate: 0.1)))
            try trainer.forward(inputs, rows: 3)
            _ = try trainer.computeLoss(targets: targets)
            trainer.backward()
            gradients.append(trainer.gradients)
        }
        XCTAssertEqual(gradients[0][0].tensor.shape, [3, 4])
        XCTAssertEqual(gradients[1][0].tensor.shape, [4, 3])
        XCTAssertEqual(gradients[1][0].layout, .inOut)
        let transposed = try gradients[1][0].tensor.transposed2D().floatValues()
        for (a, b) in zip(gradients[0][0].tensor.floatValues(), transposed) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(gradients[0][1].tensor.floatValues(), gradients[1][1].tensor.floatValues())
    }
}
