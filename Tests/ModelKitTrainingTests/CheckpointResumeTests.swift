import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// Specs/checkpoint.md K12: a run interrupted at a checkpoint and continued by a new trainer ends with bit-identical
/// weights, optimizer buffers and progress.
final class CheckpointResumeTests: XCTestCase {
    /// Trains `configuration` to the end without interruption, and again interrupted after each step count in
    /// `stops` (written to a file, read back into a new trainer each time); compares everything bytewise.
    private func assertResumeIsExact(_ configuration: TrainingConfiguration, stops: [Int], compression: CheckpointCompression,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let (reference, data) = try CheckpointSupport.trainer(configuration, steps: 0)
        try reference.train(data)
        XCTAssertEqual(reference.state.globalStep, 10 * configuration.epochs, file: file, line: line)

        let directory = try CheckpointDirectory(try FixturePaths.scratchDirectory(for: self), keep: 1, compression: compression)
        var trainer = try Trainer(model: try CheckpointSupport.exampleModel(), configuration: configuration)
        for stop in stops {
            // Saved from the step callback, as `finetune --checkpoint-every` does; at the last step of an epoch the
            // state still points at that epoch (step_in_epoch = steps per epoch), which must resume correctly too.
            var saved: Checkpoint?
            try trainer.train(data) { _ in
                guard trainer.state.globalStep == stop else { return true }
                saved = Checkpoint(trainer: trainer)
                return false
            }
            let checkpoint = try XCTUnwrap(saved, "no step \(stop)", file: file, line: line)
            XCTAssertEqual(checkpoint.trainingState.globalStep, stop, file: file, line: line)
            try directory.save(checkpoint)
            // A new process would start here: nothing survives but the directory.
            let resumed = try CheckpointDirectory.resume(from: directory.path)
            XCTAssertEqual(resumed.skipped, [], file: file, line: line)
            trainer = try resumed.checkpoint.makeTrainer()
        }
        try trainer.train(data)

        CheckpointSupport.assertSameTensors(trainer.model.tensors, reference.model.tensors, "final weights", file: file, line: line)
        CheckpointSupport.assertSameOptimizerState(trainer.optimizerState, reference.optimizerState, "final optimizer state",
                                                   file: file, line: line)
        XCTAssertEqual(trainer.state, reference.state, "progress, generator states and loss history", file: file, line: line)
    }

    func test_K12_adamShuffledResumedMidEpochIsBitIdentical() throws {
        try assertResumeIsExact(CheckpointSupport.configuration(.adam(learningRate: 1e-3)), stops: [13], compression: .fast)
    }

    func test_K12_sgdMomentumResumedManyTimesIsBitIdentical() throws {
        var configuration = CheckpointSupport.configuration(.sgd(learningRate: 0.05, momentum: 0.9, nesterov: true))
        configuration.schedule = .cosine(tMax: 30, etaMin: 0.001)
        configuration.clipGradientNorm = 5
        try assertResumeIsExact(configuration, stops: [1, 7, 10, 11, 20, 29], compression: .none)
    }

    func test_K12_resumeWithoutTheOptimizerStateDiverges() throws {
        // The comparison above can fail: dropping the optimizer buffers at the checkpoint changes the final weights.
        let configuration = CheckpointSupport.configuration(.adam(learningRate: 1e-3), epochs: 2)
        let (reference, data) = try CheckpointSupport.trainer(configuration, steps: 0)
        try reference.train(data)
        let (interrupted, _) = try CheckpointSupport.trainer(configuration, steps: 5)
        var checkpoint = Checkpoint(trainer: interrupted)
        checkpoint.optimizerState = OptimizerState(kind: .adam, steps: [:], tensors: [])
        let resumed = try checkpoint.makeTrainer()
        try resumed.train(data)
        let same = zip(resumed.model.tensors, reference.model.tensors).allSatisfy { $0.tensor.bytes.elementsEqual($1.tensor.bytes) }
        XCTAssertFalse(same)
    }
}
