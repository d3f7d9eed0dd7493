#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// Specs/checkpoint.md K9: a failed write (here: the file-size limit, as a full disk) is a clear error and leaves the
/// previous checkpoint intact. The write runs in a child process (this test binary, one test) so that the limit and
/// the ignored SIGXFSZ affect nothing else.
final class CheckpointWriteFailureTests: XCTestCase {
    static let childDirectoryVariable = "MODELKIT_CHECKPOINT_CHILD_DIRECTORY"

    func test_K09_writeErrorKeepsThePreviousCheckpoint() throws {
        let path = try FixturePaths.scratchDirectory(for: self)
        let directory = try CheckpointDirectory(path, keep: 3, compression: .none)
        let previous = try directory.save(try CheckpointSupport.checkpoint(steps: 2))
        let previousBytes = try FixturePaths.bytes(previous)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["ModelKitTrainingTests.CheckpointWriteFailureTests/test_K09_childWritesUnderAFileSizeLimit"]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.childDirectoryVariable] = path
        environment["MODELKIT_CHECKPOINT_CHILD_LIMIT"] = String(previousBytes.count / 2)
        child.environment = environment
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        child.waitUntilExit()

        let report = String(decoding: try FixturePaths.bytes(path + "/child-report.txt"), as: UTF8.self)
        XCTAssertTrue(report.hasPrefix("error write failed:"), report)
        XCTAssertTrue(report.contains("checkpoint-000000005.mkit") && report.contains("File too large"), report)
        XCTAssertTrue(report.contains("previous checkpoints are intact") && report.contains("checkpoint-000000002.mkit"), report)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: path))
        XCTAssertEqual(names, ["checkpoint-000000002.mkit", "child-report.txt"], "no partial or temporary file is left")
        XCTAssertEqual(try FixturePaths.bytes(previous), previousBytes)
        XCTAssertEqual(try CheckpointDirectory.resume(from: path).checkpoint.trainingState.globalStep, 2)
    }

    /// The child half: runs only when the parent test starts this binary with the directory in the environment.
    func test_K09_childWritesUnderAFileSizeLimit() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[Self.childDirectoryVariable], let limitText = environment["MODELKIT_CHECKPOINT_CHILD_LIMIT"],
              let limit = rlim_t(limitText) else {
            throw XCTSkip("runs as the child of test_K09_writeErrorKeepsThePreviousCheckpoint")
        }
        let checkpoint = try CheckpointSupport.checkpoint(steps: 5)
        let directory = try CheckpointDirectory(path, keep: 3, compression: .none)
        let reportPath = path + "/child-report.txt"
        signal(SIGXFSZ, SIG_IGN)
        var old = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old)
        var bounds = rlimit(rlim_cur: limit, rlim_max: old.rlim_max)
        guard setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &bounds) == 0 else {
            try FixturePaths.write(Array("setrlimit failed".utf8), to: reportPath)
            return
        }
        var report: String
        do {
            try directory.save(checkpoint)
            report = "saved"
        } catch {
            report = "error \(error.kind.rawValue): \(error)"
        }
        // The report is written after the limit is lifted again.
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old)
        try FixturePaths.write(Array(report.utf8), to: reportPath)
    }
}
