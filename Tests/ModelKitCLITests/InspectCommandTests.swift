import Foundation
import XCTest
import ModelKitTestSupport

final class InspectCommandTests: XCTestCase {
    func test_inspectFrozenFixtureMatchesSnapshot() throws {
        let result = try BinaryRunner.run(["inspect", "Fixtures/models/mkit/frozen-v1.0.mkit"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        try assertSnapshot(result.standardOutput, named: "inspect-frozen-v1.0.txt")
    }

    func test_inspectJSONIsStableAndComplete() throws {
        let result = try BinaryRunner.run(["inspect", "--json", "Fixtures/models/mkit/frozen-v1.0.mkit"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        try assertSnapshot(result.standardOutput, named: "inspect-frozen-v1.0.json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let totals = try XCTUnwrap(object["totals"] as? [String: Any])
        XCTAssertEqual(totals["dense_layers"] as? Int, 3)
        XCTAssertEqual(totals["parameters"] as? Int, 33)
        XCTAssertEqual((object["checksums"] as? [String: Any])?["header"] as? String, "ok")
    }

    func test_exampleShowsThreeDenseLayersAnd100502Parameters() throws {
        for name in ["example.mkit", "example.json"] {
            let path = try FixturePaths.require("models/example/" + name)
            let text = try BinaryRunner.run(["inspect", path])
            XCTAssertEqual(text.exitCode, 0, text.standardError)
            XCTAssertTrue(text.standardOutput.contains("(3 dense), 100,502 parameters"), text.standardOutput)
            let json = try BinaryRunner.run(["inspect", "--json", path])
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
            let totals = try XCTUnwrap(object["totals"] as? [String: Any])
            XCTAssertEqual(totals["dense_layers"] as? Int, 3)
            XCTAssertEqual(totals["parameters"] as? Int, 100_502)
        }
    }

    func test_everyMalformedFileExitsNonZeroWithOneLineAndNoCrash() throws {
        let directory = FixturePaths.fixture("malformed/mkit")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".mkit") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 40)
        var peak = (bytes: 0, file: "")
        for name in files {
            let path = directory + "/" + name
            for arguments in [["inspect", path], ["inspect", "--json", path], ["convert", path, NSTemporaryDirectory() + "mk-\(name).json"]] {
                let (result, peakBytes) = try BinaryRunner.runMeasuringMemory(arguments)
                if peakBytes > peak.bytes { peak = (peakBytes, name) }
                XCTAssertFalse(result.crashed, "\(arguments) crashed: \(result.standardError)")
                XCTAssertNotEqual(result.exitCode, 0, "\(arguments) was accepted")
                let lines = result.standardError.split(separator: "\n")
                XCTAssertEqual(lines.count, 1, "\(arguments): not one line: \(result.standardError)")
                XCTAssertTrue(result.standardError.contains(name), "\(arguments): the error does not name the file: \(result.standardError)")
            }
        }
        // Headers claiming 2^60 bytes must not make anyone allocate them.
        XCTAssertGreaterThan(peak.bytes, 1 << 20, "the memory measurement is not working")
        XCTAssertLessThan(peak.bytes, 256 << 20, "\(peak.file) made modelkit use \(peak.bytes >> 20) MiB")
    }

    func test_strictExitsTwoOnValidationErrors() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let result = try BinaryRunner.run(["convert", "--weight-layout", "in-out", "Fixtures/models/mkit/frozen-v1.0.mkit", directory + "/bad.mkit"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("looks transposed"), result.standardError)
        XCTAssertTrue(result.standardError.contains("--weight-layout out-in"), result.standardError)
        let inspect = try BinaryRunner.run(["inspect", "--strict", directory + "/bad.mkit"])
        XCTAssertEqual(inspect.exitCode, 2)
        XCTAssertTrue(inspect.standardOutput.contains("error: layer 'fc1': weight 'fc1.weight' looks transposed"), inspect.standardOutput)
        let fixed = try BinaryRunner.run(["inspect", "--strict", "--weight-layout", "out-in", directory + "/bad.mkit"])
        XCTAssertEqual(fixed.exitCode, 0, fixed.standardOutput)
    }

    func test_helpAndVersion() throws {
        let version = try BinaryRunner.run(["--version"])
        XCTAssertEqual(version.exitCode, 0)
        XCTAssertTrue(version.standardOutput.hasPrefix("modelkit 0.1.0 (format 1.1"), version.standardOutput)
        // The matrix library and its kernel family are part of the version: they change speed sevenfold.
        XCTAssertTrue(version.standardOutput.contains("matrix library: "), version.standardOutput)
        for command in ["inspect", "convert", "run"] {
            let help = try BinaryRunner.run([command, "--help"])
            XCTAssertEqual(help.exitCode, 0)
            try assertSnapshot(help.standardOutput, named: "help-\(command).txt")
        }
        let usage = try BinaryRunner.run(["inspect"])
        XCTAssertEqual(usage.exitCode, 64, "a missing argument is a usage error")
    }
}
