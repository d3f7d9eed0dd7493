import Foundation
import XCTest
import ModelKitTestSupport

final class ConvertCommandTests: XCTestCase {
    func test_roundTripThroughTheCommandIsByteIdentical() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let source = "Fixtures/models/mkit/frozen-v1.0.mkit"
        XCTAssertEqual(try BinaryRunner.run(["convert", source, directory + "/a.json"]).exitCode, 0)
        XCTAssertEqual(try BinaryRunner.run(["convert", directory + "/a.json", directory + "/b.mkit"]).exitCode, 0)
        XCTAssertEqual(try FixturePaths.bytes(FixturePaths.fixture("models/mkit/frozen-v1.0.mkit")), try FixturePaths.bytes(directory + "/b.mkit"))
        // The input format comes from the content, not the name.
        try FileManager.default.copyItem(atPath: directory + "/a.json", toPath: directory + "/misnamed.mkit")
        XCTAssertEqual(try BinaryRunner.run(["convert", directory + "/misnamed.mkit", directory + "/c.mkit"]).exitCode, 0)
        XCTAssertEqual(try FixturePaths.bytes(directory + "/b.mkit"), try FixturePaths.bytes(directory + "/c.mkit"))
    }

    func test_refusesToOverwriteItsInputEvenThroughALink() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let input = directory + "/m.mkit"
        try FileManager.default.copyItem(atPath: FixturePaths.fixture("models/mkit/frozen-v1.0.mkit"), toPath: input)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.mkit", withDestinationPath: input)
        let before = try FixturePaths.bytes(input)
        for output in [input, directory + "/link.mkit", directory + "/./m.mkit"] {
            let result = try BinaryRunner.run(["convert", input, output])
            XCTAssertEqual(result.exitCode, 1, output)
            XCTAssertTrue(result.standardError.contains("refusing to overwrite the input"), result.standardError)
        }
        XCTAssertEqual(try FixturePaths.bytes(input), before)
    }

    func test_unknownOutputExtensionIsAUsageError() throws {
        let result = try BinaryRunner.run(["convert", "Fixtures/models/mkit/frozen-v1.0.mkit", "/tmp/x.weird"])
        XCTAssertEqual(result.exitCode, 64)
        XCTAssertTrue(result.standardError.contains("use one of .mkit, .json, .onnx"), result.standardError)
    }

    func test_missingInputIsAClearError() throws {
        let result = try BinaryRunner.run(["convert", "no/such/file.mkit", "/tmp/x.mkit"])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertTrue(result.standardError.contains("no/such/file.mkit"), result.standardError)
        XCTAssertFalse(result.crashed)
    }
}
