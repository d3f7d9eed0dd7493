import ModelKit
import ModelKitTestSupport
import XCTest

/// `Specs/training.md` TR-OPT, TR-SCHED, TR-CLIP, TR-FREEZE: rules checked one by one, and proof that the parity
/// tests catch a wrong rule.
final class OptimizerRuleTests: XCTestCase {
    /// TR-CLIP: coef = max/(total + 1e-6), clamped to 1 (the +1e-6 is below float32 noise in training, so it is checked here).
    func testClipCoefficientIncludesEpsilon() {
        XCTAssertEqual(Trainer.clipCoefficient(norm: 1, maximum: 0.5), 0.5 / (1 + 1e-6), accuracy: 0)
        XCTAssertNotEqual(Trainer.clipCoefficient(norm: 1, maximum: 0.5), 0.5)
        XCTAssertEqual(Trainer.clipCoefficient(norm: 0.1, maximum: 0.5), 1)
    }

    /// TR-SCHED: the closed forms of the README (values from its text).
    func testSchedules() {
        let warmup = LearningRateSchedule.warmupLinear(startFactor: 0.1, endFactor: 1, warmupSteps: 5)
        for (step, expected) in [0.01, 0.028, 0.046, 0.064, 0.082, 0.1, 0.1].enumerated() {
            XCTAssertEqual(warmup.learningRate(base: 0.1, step: step), expected, accuracy: 1e-15, "warm-up step \(step)")
        }
        let step = LearningRateSchedule.step(stepSize: 4, gamma: 0.5)
        XCTAssertEqual((0..<9).map { step.learningRate(base: 1, step: $0) }, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25])
        let cosine = LearningRateSchedule.cosine(tMax: 24, etaMin: 0.001)
        XCTAssertEqual(cosine.learningRate(base: 0.01, step: 0), 0.01, accuracy: 1e-15)
        XCTAssertEqual(cosine.learningRate(base: 0.01, step: 12), 0.0055, accuracy: 1e-15)
        XCTAssertGreaterThan(cosine.learningRate(base: 0.01, step: 23), 0.001)
    }

    /// TR-OPT-SGD-1: the first momentum step copies the gradient (no dampening); a dampened first step would move
    /// the final weights by ~3.5e-3, which the parity tolerance (1e-4) must see.
    func testParityDetectsDampeningOnFirstStep() throws {
        let fixture = try TrainingFixture("classify-sgd-dampening")
        var wrong = fixture.configuration
        wrong.optimizer.dampening = 0
        XCTAssertGreaterThan(try finalWeightDifference(fixture, wrong), 1e-4)
        XCTAssertLessThan(try finalWeightDifference(fixture, fixture.configuration), 1e-4)
    }

    /// TR-OPT-ADAM-1: eps is added after √v̂; epsilon 100× larger must be visible in the final weights.
    func testParityDetectsEpsilonChange() throws {
        let fixture = try TrainingFixture("regression-mse-adam")
        var wrong = fixture.configuration
        wrong.optimizer.epsilon = 1e-3
        XCTAssertGreaterThan(try finalWeightDifference(fixture, wrong), 1e-4)
    }

    /// TR-OPT-ADAMW: AdamW's decoupled decay differs from Adam's coupled decay (same lr, wd).
    func testParityDetectsCoupledDecayInsteadOfDecoupled() throws {
        let fixture = try TrainingFixture("classify-adamw")
        var wrong = fixture.configuration
        wrong.optimizer.kind = .adam
        XCTAssertGreaterThan(try finalWeightDifference(fixture, wrong), 1e-4)
    }

    /// TR-OPT-SGD-2: Nesterov changes the result.
    func testParityDetectsMissingNesterov() throws {
        let fixture = try TrainingFixture("classify-sgd-nesterov")
        var wrong = fixture.configuration
        wrong.optimizer.nesterov = false
        XCTAssertGreaterThan(try finalWeightDifference(fixture, wrong), 1e-4)
    }

    /// TR-FREEZE: frozen layers get no update and no optimizer state; "train last N" freezes the rest.
    func testTrainLastFreezesEarlierLayers() throws {
        let model = TestModels.chain([5, 7, 6, 3], activations: [[TestModels.layer(.relu, "a")], [TestModels.layer(.relu, "b")]])
        let configuration = TrainingConfiguration(loss: .mse, optimizer: .adam(learningRate: 0.01), trainLastDenseLayers: 1, batchSize: 4)
        let trainer = try Trainer(model: model, configuration: configuration)
        XCTAssertEqual(trainer.trainedLayers, ["fc3"])
        XCTAssertEqual(trainer.parameterNames, ["fc3.weight", "fc3.bias"])
        let data = try TrainingData(inputs: TestModels.inputs(rows: 8, features: 5), features: 5,
                                    targets: TestModels.targets(for: .mse, rows: 8, columns: 3))
        try trainer.trainEpoch(data)
        let tuned = trainer.model
        for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"] {
            XCTAssertEqual(tuned.tensor(named: name)?.tensor.floatValues(), model.tensor(named: name)?.tensor.floatValues(), name)
        }
        XCTAssertNotEqual(tuned.tensor(named: "fc3.weight")?.tensor.floatValues(), model.tensor(named: "fc3.weight")?.tensor.floatValues())
        XCTAssertEqual(Set(trainer.optimizerState.tensors.map(\.name)),
                       ["fc3.weight.exp_avg", "fc3.weight.exp_avg_sq", "fc3.bias.exp_avg", "fc3.bias.exp_avg_sq"])
        XCTAssertEqual(trainer.optimizerState.steps, ["fc3.weight": 2, "fc3.bias": 2])
    }

    func testUnknownFrozenLayerThrows() {
        let model = TestModels.chain([3, 2], activations: [])
        XCTAssertThrowsError(try Trainer(model: model, configuration: TrainingConfiguration(
            loss: .mse, optimizer: .sgd(learningRate: 0.1), frozenLayers: ["fc9"]))) { error in
            XCTAssertEqual(error as? TrainingError, .unknownLayer(name: "fc9", available: ["fc1"]))
        }
    }

    func testInvalidSettingsThrow() {
        let model = TestModels.chain([3, 2], activations: [])
        let bad: [TrainingConfiguration] = [
            TrainingConfiguration(loss: .mse, optimizer: .sgd(learningRate: -1)),
            TrainingConfiguration(loss: .mse, optimizer: .sgd(learningRate: 0.1, nesterov: true)),
            TrainingConfiguration(loss: .mse, optimizer: .adam(beta1: 1)),
            TrainingConfiguration(loss: .mse, optimizer: .sgd(learningRate: 0.1), batchSize: 0),
            TrainingConfiguration(loss: .mse, optimizer: .sgd(learningRate: 0.1), clipGradientNorm: 0),
        ]
        for configuration in bad {
            XCTAssertThrowsError(try Trainer(model: model, configuration: configuration))
        }
    }

    func testClassIDOutOfRangeThrows() throws {
        let model = TestModels.chain([3, 2], activations: [])
        let trainer = try Trainer(model: model, configuration: TrainingConfiguration(loss: .crossEntropy, optimizer: .sgd(learningRate: 0.1)))
        try trainer.forward([0, 0, 0], rows: 1)
        XCTAssertThrowsError(try trainer.computeLoss(targets: .classes([2])))
        XCTAssertThrowsError(try trainer.computeLoss(targets: .classes([-1])))
        XCTAssertThrowsError(try trainer.forward([0, 0], rows: 1))
    }

    private func finalWeightDifference(_ fixture: TrainingFixture, _ configuration: TrainingConfiguration) throws -> Float {
        let trainer = try Trainer(model: fixture.model, configuration: configuration)
        try trainer.train(fixture.data)
        let final = try TrainingFixture.model("expected/training/\(fixture.name)/final.json")
        var worst: Float = 0
        for expected in final.tensors {
            let actual = try XCTUnwrap(trainer.model.tensor(named: expected.name)).tensor.floatValues()
            for (a, e) in zip(actual, expected.tensor.floatValues()) { worst = max(worst, abs(a - e)) }
        }
        return worst
    }
}
