import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// `finetune --checkpoint-dir/--checkpoint-every/--resume` (Specs/checkpoint.md section 2). The SIGKILL test is
/// scripts/kill-test.sh, run by scripts/test.sh.
final class FinetuneCheckpointTests: XCTestCase {
    private func training(epochs: Int) -> [String] {
        ["finetune", "Fixtures/models/example/example.json", "--data", "Fixtures/models/training/example-teacher.npz",
         "--loss", "cross-entropy", "--optimizer", "adam", "--lr", "0.001", "--epochs", "\(epochs)", "--batch-size", "50",
         "--shuffle", "--seed", "11"]
    }

    private func tensorBytes(_ path: String) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        for entry in try ModelIO.load(path).model.tensors { result[entry.name] = Array(entry.tensor.bytes) }
        return result
    }

    func test_K12_resumingFromAMidEpochCheckpointGivesTheSameBits() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        XCTAssertEqual(try BinaryRunner.run(training(epochs: 2) + ["--output", directory + "/reference.mkit"]).exitCode, 0)
        // One epoch with checkpoints every 3 steps (the last at step 9, mid-epoch, then the end at step 10)…
        let first = try BinaryRunner.run(training(epochs: 1) + ["--output", directory + "/first.mkit",
                                                               "--checkpoint-dir", directory + "/ckpt", "--checkpoint-every", "3", "--keep", "2"])
        XCTAssertEqual(first.exitCode, 0, first.standardError)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/ckpt").sorted()
        XCTAssertEqual(files, ["checkpoint-000000009.mkit", "checkpoint-000000010.mkit"], "keep 2")
        // …remove the end-of-run one, so the resume starts mid-epoch, at step 9 of 10.
        try FileManager.default.removeItem(atPath: directory + "/ckpt/checkpoint-000000010.mkit")
        try FileManager.default.copyItem(atPath: directory + "/ckpt/checkpoint-000000009.mkit", toPath: directory + "/step9.mkit")
        let resumed = try BinaryRunner.run(training(epochs: 2) + ["--output", directory + "/resumed.mkit",
                                                                 "--checkpoint-dir", directory + "/ckpt", "--checkpoint-every", "3",
                                                                 "--resume", directory + "/ckpt"])
        XCTAssertEqual(resumed.exitCode, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardError.contains("resuming from"), resumed.standardError)
        XCTAssertEqual(try tensorBytes(directory + "/resumed.mkit"), try tensorBytes(directory + "/reference.mkit"))
        // A checkpoint is also a model: run accepts it.
        let run = try BinaryRunner.run(["run", directory + "/step9.mkit", "--input", "Fixtures/expected/example/batch1.input.npy"])
        XCTAssertEqual(run.exitCode, 0, run.standardError)
    }

    func test_K11_damagedNewestCheckpointFallsBackWithAWarningNamingTheTensor() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        XCTAssertEqual(try BinaryRunner.run(training(epochs: 1) + ["--output", directory + "/a.mkit", "--checkpoint-dir",
                                                                  directory + "/ckpt", "--checkpoint-every", "5", "--compression", "none"]).exitCode, 0)
        let newest = directory + "/ckpt/checkpoint-000000010.mkit"
        var bytes = try FixturePaths.bytes(newest)
        bytes[bytes.count / 2] ^= 0x01  // inside a tensor's data: the weights of fc1 and their Adam buffers fill the file
        try FixturePaths.write(bytes, to: newest)
        let inspect = try BinaryRunner.run(["inspect", newest])
        XCTAssertEqual(inspect.exitCode, 1)
        XCTAssertTrue(inspect.standardError.contains("checksum mismatch"), inspect.standardError)
        let resumed = try BinaryRunner.run(training(epochs: 1) + ["--output", directory + "/b.mkit", "--resume", directory + "/ckpt"])
        XCTAssertEqual(resumed.exitCode, 0, resumed.standardError)
        XCTAssertTrue(resumed.standardError.contains("checkpoint-000000010.mkit") && resumed.standardError.contains("checksum"), resumed.standardError)
        XCTAssertTrue(resumed.standardError.contains("checkpoint-000000005.mkit"), resumed.standardError)
        // Resuming a damaged FILE has no fallback.
        let file = try BinaryRunner.run(training(epochs: 1) + ["--output", directory + "/c.mkit", "--resume", newest])
        XCTAssertEqual(file.exitCode, 1)
        XCTAssertTrue(file.standardError.contains("tensor '"), file.standardError)
    }

    func test_resumingWithOtherSettingsIsRefused() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        XCTAssertEqual(try BinaryRunner.run(training(epochs: 1) + ["--output", directory + "/a.mkit", "--checkpoint-dir",
                                                                  directory + "/ckpt", "--checkpoint-every", "1e"]).exitCode, 0)
        var changed = training(epochs: 2)
        changed[changed.firstIndex(of: "0.001")!] = "0.01"
        let result = try BinaryRunner.run(changed + ["--output", directory + "/b.mkit", "--resume", directory + "/ckpt"])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertTrue(result.standardError.contains("settings differ") && result.standardError.contains("0.01"), result.standardError)
    }

    func test_K09_aFullDiskStopsTrainingCleanlyAndKeepsThePreviousCheckpoint() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        XCTAssertEqual(try BinaryRunner.run(training(epochs: 1) + ["--output", directory + "/a.mkit", "--checkpoint-dir",
                                                                  directory + "/ckpt", "--checkpoint-every", "1e", "--compression", "none"]).exitCode, 0)
        let previous = directory + "/ckpt/checkpoint-000000010.mkit"
        let before = try FixturePaths.bytes(previous)
        // A file-size limit of 256 KiB: a checkpoint (weights and two Adam buffers, 1.2 MB) cannot be written.
        let command = ([BinaryRunner.binary] + training(epochs: 2) + ["--output", directory + "/b.mkit", "--checkpoint-dir", directory + "/ckpt",
                       "--checkpoint-every", "2", "--compression", "none", "--resume", directory + "/ckpt"]).map { "'\($0)'" }.joined(separator: " ")
        let result = try BinaryRunner.shell("ulimit -f 256; exec \(command)")
        XCTAssertEqual(result.exitCode, 1, result.standardError)
        XCTAssertTrue(result.standardError.contains("cannot write the checkpoint"), result.standardError)
        XCTAssertTrue(result.standardError.contains("intact"), result.standardError)
        XCTAssertEqual(try FixturePaths.bytes(previous), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory + "/ckpt"), ["checkpoint-000000010.mkit"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/b.mkit"))
    }

    func test_flagCombinations() throws {
        let missingDirectory = try BinaryRunner.run(training(epochs: 1) + ["--output", "/tmp/x.mkit", "--checkpoint-every", "3"])
        XCTAssertEqual(missingDirectory.exitCode, 64)
        let badInterval = try BinaryRunner.run(training(epochs: 1) + ["--output", "/tmp/x.mkit", "--checkpoint-dir", "/tmp/c", "--checkpoint-every", "0"])
        XCTAssertEqual(badInterval.exitCode, 64)
    }
}
