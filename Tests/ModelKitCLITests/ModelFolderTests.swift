import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// A folder given where a model file is expected (a downloaded model repository) reads the model file in it.
final class ModelFolderTests: XCTestCase {
    func test_aFolderWithAShardedCheckpointReadsItsIndex() throws {
        let result = try BinaryRunner.run(["inspect", "Fixtures/models/safetensors/sharded"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("note: Fixtures/models/safetensors/sharded is a folder; reading model.safetensors.index.json"),
                      result.standardError)
        XCTAssertTrue(result.standardOutput.hasPrefix("Fixtures/models/safetensors/sharded/model.safetensors.index.json:"), result.standardOutput)
    }

    func test_aFolderWithOneModelFileReadsIt() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try FileManager.default.copyItem(atPath: FixturePaths.fixture("models/example/example.mkit"), toPath: directory + "/weights.mkit")
        try FixturePaths.write(Array("notes".utf8), to: directory + "/README.md")
        let result = try BinaryRunner.run(["run", directory, "--input", "Fixtures/expected/example/batch50.input.npy",
                                           "--output", directory + "/out.npy"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("reading weights.mkit, the one model file in it"), result.standardError)
    }

    func test_ambiguousOrEmptyFoldersSayWhatToPass() throws {
        let several = try BinaryRunner.run(["inspect", "Fixtures/models/safetensors"])
        XCTAssertEqual(several.exitCode, 1)
        XCTAssertTrue(several.standardError.contains("is a folder with 2 model files ('all_dtypes.safetensors', 'example.safetensors'); pass the one to read"),
                      several.standardError)
        let empty = try FixturePaths.scratchDirectory(for: self)
        let none = try BinaryRunner.run(["convert", empty, empty + "/out.mkit"])
        XCTAssertEqual(none.exitCode, 1)
        XCTAssertTrue(none.standardError.contains("is a folder with no model file in it"), none.standardError)
    }
}
