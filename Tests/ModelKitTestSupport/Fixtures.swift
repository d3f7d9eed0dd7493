import Foundation
import XCTest

/// Paths of committed fixtures and fresh scratch directories for tests.
public enum FixturePaths {
    /// The repository root (found from this file's location, so tests work from any working directory).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `Fixtures/<relative>`.
    public static func fixture(_ relative: String) -> String { root + "/Fixtures/" + relative }

    /// A fixture that must exist; fails the test clearly when it does not.
    public static func require(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let path = fixture(relative)
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("missing fixture \(path): run Fixtures/generate (see Fixtures/generate/README.md)", file: file, line: line)
            throw XCTSkip("missing fixture \(relative)")
        }
        return path
    }

    /// A new empty directory, removed when the test ends.
    public static func scratchDirectory(for testCase: XCTestCase) throws -> String {
        let path = NSTemporaryDirectory() + "modelkit-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The bytes of a file.
    public static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes bytes to a file (tests only; not atomic).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
