import Foundation
import XCTest
import ModelKitTestSupport

/// Runs the built `modelkit` binary, as a user would.
struct CommandResult {
    var standardOutput: String
    var standardError: String
    var exitCode: Int32
    /// True when the process ended by a signal (a crash), not by `exit`.
    var crashed: Bool
}

enum BinaryRunner {
    /// The `modelkit` binary next to the test bundle (both are in the build's bin directory).
    static var binary: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("modelkit").path,
            Bundle.main.bundleURL.appendingPathComponent("modelkit").path,
            FixturePaths.root + "/.build/debug/modelkit",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[2]
    }

    static func run(_ arguments: [String], in directory: String? = nil) throws -> CommandResult {
        try launch(binary, arguments, in: directory)
    }

    /// Runs `script` with `/bin/sh -c` (for resource limits such as `ulimit -f`), in the repository root.
    static func shell(_ script: String) throws -> CommandResult {
        try launch("/bin/sh", ["-c", script], in: nil)
    }

    private static func launch(_ executable: String, _ arguments: [String], in directory: String?) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory ?? FixturePaths.root)
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(standardOutput: String(decoding: outData, as: UTF8.self),
                             standardError: String(decoding: errData, as: UTF8.self),
                             exitCode: process.terminationStatus,
                             crashed: process.terminationReason == .uncaughtSignal)
    }

    /// Runs `modelkit` and measures its peak resident memory from `wait4`'s usage for that one process (the
    /// process-wide `RUSAGE_CHILDREN` would also count the Python interop checks other tests spawn).
    static func runMeasuringMemory(_ arguments: [String]) throws -> (result: CommandResult, peakBytes: Int) {
        let scratch = NSTemporaryDirectory() + "modelkit-run-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outputPath = scratch + "/stdout", errorPath = scratch + "/stderr"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, binary, &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        // The wait status: the low 7 bits are the terminating signal (0 for a normal exit), the next byte the code.
        let signal = status & 0x7F
        let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        let result = CommandResult(standardOutput: read(outputPath), standardError: read(errorPath),
                                   exitCode: signal == 0 ? (status >> 8) & 0xFF : 128 + signal,
                                   crashed: signal != 0 && signal != 0x7F)
        return (result, usage.ru_maxrss * 1024)
    }
}

/// Compares `text` with a committed snapshot; `MODELKIT_UPDATE_SNAPSHOTS=1` rewrites it.
func assertSnapshot(_ text: String, named name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let path = FixturePaths.root + "/Tests/ModelKitCLITests/Snapshots/" + name
    if ProcessInfo.processInfo.environment["MODELKIT_UPDATE_SNAPSHOTS"] == "1" {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return
    }
    guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
        XCTFail("no snapshot \(name); run the tests once with MODELKIT_UPDATE_SNAPSHOTS=1 and review it", file: file, line: line)
        return
    }
    XCTAssertEqual(text, expected, "output differs from snapshot \(name)", file: file, line: line)
}
