import Foundation
import XCTest
import ModelKitTestSupport

/// Every damaged or hostile file we have, given to the real `modelkit` binary: it never crashes, a failure is one
/// line that names the file, and nothing from the file reaches the terminal as a control sequence (issue 8).
final class HostileCorpusCommandTests: XCTestCase {
    /// Every file under Fixtures/malformed/, except the manifests that describe them.
    static func corpus() throws -> [String] {
        let root = FixturePaths.fixture("malformed")
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var files: [String] = []
        for case let relative as String in walker {
            let path = root + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let name = (relative as NSString).lastPathComponent
            if name.hasSuffix(".md") || name == "malformed.json" || name == "EXPECTED.json" { continue }
            files.append(path)
        }
        return files.sorted()
    }

    /// Characters that must never reach the terminal from a file: controls other than the newline that ends a line,
    /// and the bidirectional overrides and isolates.
    static func firstControl(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { scalar in
            switch scalar.value {
            case 0x0A: return false
            case 0x00..<0x20, 0x7F..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: return true
            default: return false
            }
        }
    }

    func test_everyMalformedFileFailsCleanlyInOneLine() throws {
        let files = try Self.corpus()
        XCTAssertGreaterThan(files.count, 250, "the corpus is smaller than expected; was it moved?")
        var failures = 0
        var peak = (bytes: 0, file: "")
        for path in files {
            let name = (path as NSString).lastPathComponent
            let (result, peakBytes) = try BinaryRunner.runMeasuringMemory(["inspect", path])
            if peakBytes > peak.bytes { peak = (peakBytes, name) }
            XCTAssertFalse(result.crashed, "\(name) crashed modelkit: \(result.standardError)")
            XCTAssertTrue([0, 1, 2].contains(result.exitCode), "\(name): exit \(result.exitCode)")
            if let control = Self.firstControl(in: result.standardOutput + result.standardError) {
                XCTFail("\(name): U+\(String(control.value, radix: 16)) reached the terminal")
            }
            guard result.exitCode == 1 else { continue }
            failures += 1
            let lines = result.standardError.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            XCTAssertEqual(lines.count, 1, "\(name): the error is not one line: \(result.standardError)")
            XCTAssertTrue(result.standardError.hasPrefix("Error: "), "\(name): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains(name) || result.standardError.contains((path as NSString).deletingLastPathComponent),
                          "\(name): the error does not name the file: \(result.standardError)")
        }
        // Most of the corpus is damaged beyond reading; the rest (valid bases, graphs that inspect lists without
        // mapping, weights with NaN) is listed.
        XCTAssertGreaterThan(failures, files.count * 3 / 4, "too few malformed files were refused")
        XCTAssertGreaterThan(peak.bytes, 1 << 20, "the memory measurement is not working")
        XCTAssertLessThan(peak.bytes, 512 << 20, "\(peak.file) made modelkit use \(peak.bytes >> 20) MiB")
    }

    /// Tensor names and metadata carrying a screen clear, a title change, a newline and a right-to-left override are
    /// listed escaped, one tensor per line.
    func test_namesWithTerminalEscapesAreListedEscaped() throws {
        let path = try FixturePaths.require("malformed/hostile/terminal-escape-names.safetensors")
        let result = try BinaryRunner.run(["inspect", path])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertNil(Self.firstControl(in: result.standardOutput), result.standardOutput)
        let escaped = "fc\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\nfake line\\u{202e}evil.weight"
        XCTAssertTrue(result.standardOutput.contains(escaped), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("bias\\r\\u{0}"), result.standardOutput)
        XCTAssertFalse(result.standardOutput.split(separator: "\n").contains { $0.hasPrefix("fake line") },
                       "a name started a line of its own:\n\(result.standardOutput)")
    }

    /// An archive member whose name carries terminal escapes is refused, and the refusal shows the name escaped.
    func test_memberNameWithTerminalEscapesIsRefusedEscaped() throws {
        let path = try FixturePaths.require("malformed/hostile/terminal-escape-member-name.npz")
        for arguments in [["inspect", path], ["run", "Fixtures/models/mkit/frozen-v1.0.mkit", "--input", path]] {
            let result = try BinaryRunner.run(arguments)
            XCTAssertEqual(result.exitCode, 1, "\(arguments): \(result.standardOutput)")
            XCTAssertNil(Self.firstControl(in: result.standardError), result.standardError)
            XCTAssertEqual(result.standardError.split(separator: "\n").count, 1, result.standardError)
            XCTAssertTrue(result.standardError.contains("'\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\nfake line\\u{202e}evil.npy'"),
                          "\(arguments): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains("control characters"), result.standardError)
        }
    }

    /// A file name is text we did not choose either: a path with a newline and an escape sequence still gives one
    /// escaped line (the command's last line of defence, not any one reader's quoting).
    func test_pathWithControlCharactersGivesOneEscapedLine() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/evil\n\u{1b}[31mname.onnx"
        try FixturePaths.write(Array("not a model".utf8), to: path)
        for arguments in [["inspect", path], ["inspect", directory + "/missing\n\u{1b}[31m.onnx"], ["convert", path, directory + "/out.mkit"]] {
            let result = try BinaryRunner.run(arguments)
            XCTAssertEqual(result.exitCode, 1, "\(arguments): \(result.standardOutput)")
            XCTAssertNil(Self.firstControl(in: result.standardError), result.standardError)
            XCTAssertEqual(result.standardError.split(separator: "\n").count, 1, result.standardError)
            XCTAssertTrue(result.standardError.contains("\\n\\u{1b}[31m"), "\(arguments): \(result.standardError)")
        }
    }
}
