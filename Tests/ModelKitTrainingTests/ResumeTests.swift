import ModelKit
import XCTest

/// `Specs/training.md` TR-STATE: a run stopped mid-epoch and resumed from (model, optimizer state, training state)
/// reproduces the uninterrupted run bit for bit, shuffle and dropout included.
final class ResumeTests: XCTestCase {
    private func makeModel() -> Model {
        TestModels.chain([6, 10, 8, 3], activations: [[TestModels.layer(.relu, "a"), TestModels.layer(.dropout, "d", attributes: [("rate", .double(0.25))])],
                                                      [TestModels.layer(.tanh, "b")], [TestModels.layer(.softmax, "out")]])
    }

    private func data() throws -> TrainingData {
        try TrainingData(inputs: TestModels.inputs(rows: 37, features: 6), features: 6,
                         targets: TestModels.targets(for: .crossEntropy, rows: 37, columns: 3))
    }

    func testResumeMidEpochIsBitIdentical() throws {
        for optimizer in [OptimizerConfiguration.adamW(learningRate: 0.01), .sgd(learningRate: 0.05, momentum: 0.9)] {
            let configuration = TrainingConfiguration(loss: .crossEntropy, optimizer: optimizer, schedule: .cosine(tMax: 15, etaMin: 0),
                                                      clipGradientNorm: 1, batchSize: 8, shuffle: true, seed: 1234, epochs: 3)
            let data = try data()
            let straight = try Trainer(model: makeModel(), configuration: configuration)
            try straight.train(data)

            let first = try Trainer(model: makeModel(), configuration: configuration)
            var steps = 0
            try first.train(data) { _ in steps += 1; return steps < 7 }
            XCTAssertEqual(first.state.epoch, 1)
            XCTAssertEqual(first.state.stepInEpoch, 2)
            // Round-trip the state through JSON, as a checkpoint would.
            let savedState = try TrainingState(json: first.state.jsonValue)
            XCTAssertEqual(savedState, first.state)
            let savedConfiguration = try TrainingConfiguration(json: configuration.jsonValue)
            XCTAssertEqual(savedConfiguration, configuration)

            let resumed = try Trainer(model: first.model, configuration: savedConfiguration)
            try resumed.restore(optimizerState: first.optimizerState, trainingState: savedState)
            try resumed.train(data)

            XCTAssertEqual(resumed.state.stepLosses, straight.state.stepLosses)
            XCTAssertEqual(resumed.state.epochMeanLosses, straight.state.epochMeanLosses)
            for tensor in straight.model.tensors {
                XCTAssertEqual(resumed.model.tensor(named: tensor.name)?.tensor.floatValues(), tensor.tensor.floatValues(), tensor.name)
            }
        }
    }

    func testShuffleIsFisherYatesFromSeed() {
        var random = TrainingRandom(seed: 42)
        let order = random.permutation(of: 10)
        XCTAssertEqual(order.sorted(), Array(0..<10))
        var again = TrainingRandom(seed: 42)
        XCTAssertEqual(again.permutation(of: 10), order)
        XCTAssertNotEqual(TrainingRandom(seed: 43).state, TrainingRandom(seed: 42).state)
    }

    func testRestoreRejectsForeignState() throws {
        let trainer = try Trainer(model: makeModel(), configuration: TrainingConfiguration(loss: .crossEntropy, optimizer: .adam()))
        let foreign = OptimizerState(kind: .adam, steps: ["nope.weight": 1], tensors: [])
        XCTAssertThrowsError(try trainer.restore(optimizerState: foreign, trainingState: trainer.state))
        let wrongKind = OptimizerState(kind: .sgd, steps: [:], tensors: [])
        XCTAssertThrowsError(try trainer.restore(optimizerState: wrongKind, trainingState: trainer.state))
    }

    func testEvaluateChangesNothing() throws {
        let trainer = try Trainer(model: makeModel(), configuration: TrainingConfiguration(loss: .crossEntropy, optimizer: .adam(), batchSize: 8))
        let data = try data()
        let before = trainer.model.tensors.map { $0.tensor.floatValues() }
        let first = try trainer.evaluate(data)
        let second = try trainer.evaluate(data)
        XCTAssertEqual(first, second)
        XCTAssertNotNil(first.accuracy)
        XCTAssertEqual(trainer.model.tensors.map { $0.tensor.floatValues() }, before)
        XCTAssertEqual(trainer.state.globalStep, 0)
    }
}
