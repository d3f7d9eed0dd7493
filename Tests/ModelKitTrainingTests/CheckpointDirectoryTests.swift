import Foundation
@testable import ModelKit
import ModelKitTestSupport
import XCTest

/// Specs/checkpoint.md K8–K11: rolling checkpoints in a directory, atomic writes, fallback past damaged files.
final class CheckpointDirectoryTests: XCTestCase {
    func test_K08_namesAreZeroPaddedAndOrderedByStep() throws {
        let path = try FixturePaths.scratchDirectory(for: self) + "/nested/ckpt"
        let directory = try CheckpointDirectory(path, keep: 10, compression: .none)
        XCTAssertEqual(CheckpointDirectory.fileName(step: 42), "checkpoint-000000042.mkit")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 1_234_567_890), "checkpoint-1234567890.mkit")
        let checkpoint = try CheckpointSupport.checkpoint(steps: 1)
        for step in [9, 10, 1_000_000_001, 100] { try directory.save(checkpoint, step: step) }
        try FixturePaths.write([1, 2, 3], to: path + "/notes.txt")
        try FixturePaths.write([1, 2, 3], to: path + "/checkpoint-abc.mkit")
        XCTAssertEqual(try directory.entries().map(\.step), [1_000_000_001, 100, 10, 9])
        XCTAssertEqual(try directory.save(checkpoint), path + "/checkpoint-000000001.mkit", "defaults to the global step")
    }

    func test_K09_atomicWriteLeavesNoTemporaryFile() throws {
        let path = try FixturePaths.scratchDirectory(for: self)
        let directory = try CheckpointDirectory(path, keep: 2)
        try directory.save(try CheckpointSupport.checkpoint(steps: 2))
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        XCTAssertEqual(names, ["checkpoint-000000002.mkit"])
    }

    func test_K10_keepsTheNewestAndRemovesAbandonedTemporaries() throws {
        let path = try FixturePaths.scratchDirectory(for: self)
        let directory = try CheckpointDirectory(path, keep: 2, compression: .none)
        // A writer killed mid-write leaves its temporary file; a pid that cannot be running marks it abandoned.
        let abandoned = ".checkpoint-000000001.mkit.tmp-2147483646-12345"
        let live = ".checkpoint-000000001.mkit.tmp-\(getpid())-1"
        try FixturePaths.write([0], to: path + "/" + abandoned)
        try FixturePaths.write([0], to: path + "/" + live)
        let checkpoint = try CheckpointSupport.checkpoint(steps: 1)
        for step in 1...4 { try directory.save(checkpoint, step: step) }
        XCTAssertEqual(try directory.entries().map(\.step), [4, 3])
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: path))
        XCTAssertFalse(names.contains(abandoned))
        XCTAssertTrue(names.contains(live), "a live writer's temporary file is left alone")
        XCTAssertThrowsError(try CheckpointDirectory(path, keep: 0))
    }

    func test_K11_damagedNewestFallsBackToAnOlderOneWithAWarning() throws {
        let path = try FixturePaths.scratchDirectory(for: self)
        let directory = try CheckpointDirectory(path, keep: 3, compression: .fast)
        let (trainer, data) = try CheckpointSupport.trainer(CheckpointSupport.configuration(.adam(learningRate: 1e-3)), steps: 4)
        try directory.save(Checkpoint(trainer: trainer))
        try trainer.train(data) { _ in trainer.state.globalStep < 8 }
        let newest = try directory.save(Checkpoint(trainer: trainer))
        try CheckpointSupport.flipByte(of: "fc2.weight", in: newest)

        let resumed = try CheckpointDirectory.resume(from: path)
        XCTAssertEqual(resumed.path, path + "/checkpoint-000000004.mkit")
        XCTAssertEqual(resumed.checkpoint.trainingState.globalStep, 4)
        XCTAssertEqual(resumed.skipped.map(\.path), [newest])
        XCTAssertEqual(resumed.warnings.count, 1)
        let warning = try XCTUnwrap(resumed.warnings.first)
        XCTAssertTrue(warning.contains(newest) && warning.contains("tensor 'fc2.weight'") && warning.contains("checkpoint-000000004.mkit"), warning)

        // --resume FILE has no fallback.
        XCTAssertThrowsError(try CheckpointDirectory.resume(from: newest)) { error in
            XCTAssertTrue("\(error)".contains("tensor 'fc2.weight'"), "\(error)")
        }
        // No valid checkpoint at all: every file and its failure are listed.
        try CheckpointSupport.flipByte(of: "optimizer/fc1.bias.exp_avg", in: resumed.path)
        XCTAssertThrowsError(try directory.newestValid()) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .noValidCheckpoint)
            let text = "\(error)"
            XCTAssertTrue(text.contains("checkpoint-000000008.mkit") && text.contains("checkpoint-000000004.mkit")
                          && text.contains("optimizer/fc1.bias.exp_avg"), text)
        }
        let empty = try CheckpointDirectory(path + "/empty")
        XCTAssertThrowsError(try empty.newestValid()) { error in
            XCTAssertTrue("\(error)".contains("no checkpoint-*.mkit"), "\(error)")
        }
    }
}
