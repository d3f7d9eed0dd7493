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

    /// The largest resident set of any child process so far, in bytes.
    static func peakChildMemory() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return usage.ru_maxrss * 1024
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
