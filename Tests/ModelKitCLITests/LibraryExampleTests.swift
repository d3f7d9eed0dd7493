import XCTest
import ModelKit
import ModelKitTestSupport

/// The README's library example, and the promise behind it: one prepared session used from many tasks at once.
final class LibraryExampleTests: XCTestCase {
    func test_readmeExampleRunsAndMatchesPyTorch() throws {
        var options = ModelIO.LoadOptions()
        options.architecture = try Architecture.fromArgument("linear(400,200) relu linear(200,100) relu linear(100,2) softmax")
        let fromTorch = try ModelIO.load(FixturePaths.fixture("models/safetensors/example.safetensors"), options: options)
        let session = try InferenceSession(model: fromTorch.model)
        let probabilities = try session.predict([[Float]](repeating: [Float](repeating: 0.1, count: 400), count: 3))
        XCTAssertEqual(probabilities.count, 3)
        XCTAssertEqual(probabilities[0].count, 2)
        let input = try NumPyFile.readArray(path: FixturePaths.fixture("expected/example/batch50.input.npy"))
        let expected = try NumPyFile.readArray(path: FixturePaths.fixture("expected/example/batch50.output.npy")).floatValues()
        assertCloseScaled(try session.predict(input).floatValues(), expected)
    }

    func test_readmeFineTuneExampleRuns() throws {
        let loaded = try ModelIO.load(FixturePaths.fixture("models/example/example.mkit"))
        let data = try TrainingDataFile.read(path: FixturePaths.fixture("models/training/example-teacher.npz"))
        let trainer = try Trainer(model: loaded.model, configuration: TrainingConfiguration(
            loss: .crossEntropy, optimizer: .sgd(learningRate: 0.1), batchSize: 50))
        for _ in 0..<3 { try trainer.trainEpoch(try TrainingData(inputs: data.inputs, targets: data.targets)) }
        let directory = try FixturePaths.scratchDirectory(for: self)
        try ModelIO.save(trainer.model, to: directory + "/tuned.safetensors")
        XCTAssertEqual(trainer.state.globalStep, 30)
        XCTAssertNoThrow(try ModelIO.load(directory + "/tuned.safetensors"))
    }

    func test_oneSessionServesManyTasksAtOnce() async throws {
        let loaded = try ModelIO.load(FixturePaths.fixture("models/example/example.mkit"))
        let session = try InferenceSession(model: loaded.model, options: InferenceOptions(maximumBatchSize: 16))
        let input = try NumPyFile.readArray(path: FixturePaths.fixture("expected/example/batch50.input.npy"))
        let values = try input.floatValues()
        let expected = try NumPyFile.readArray(path: FixturePaths.fixture("expected/example/batch50.output.npy")).floatValues()
        let results = try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0..<16 { group.addTask { try session.predict(values, batchSize: 50) } }
            var all: [[Float]] = []
            for try await result in group { all.append(result) }
            return all
        }
        XCTAssertEqual(results.count, 16)
        for result in results { assertCloseScaled(result, expected) }
    }
}
