import Foundation
import ModelKit
import ModelKitTestSupport
import XCTest

/// One run of `Fixtures/expected/training/<run>` (written by `Fixtures/generate/training_fixtures.py` from torch).
struct TrainingFixture {
    let name: String
    let configuration: TrainingConfiguration
    let run: JSONValue
    let model: Model
    let data: TrainingData

    init(_ name: String) throws {
        self.name = name
        let directory = try FixturePaths.require("expected/training/\(name)")
        configuration = try TrainingConfiguration(json: try Self.json(directory + "/config.json"))
        run = try Self.json(directory + "/run.json")
        guard let modelPath = run["model"]?.stringValue, let dataPath = run["data"]?.stringValue else {
            throw XCTSkip("run.json of \(name) lacks model/data paths")
        }
        model = try ModelFile.read(path: FixturePaths.root + "/" + modelPath).model
        data = try Self.data(FixturePaths.root + "/" + dataPath)
    }

    static func json(_ path: String) throws -> JSONValue {
        let bytes = try FixturePaths.bytes(path)
        return try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
    }

    static func data(_ path: String) throws -> TrainingData {
        let arrays = try NumPyFile.readArchive(path: path)
        guard let x = arrays.first(where: { $0.name == "x" })?.tensor, let y = arrays.first(where: { $0.name == "y" })?.tensor else {
            throw XCTSkip("\(path) lacks x or y")
        }
        return try TrainingData(inputs: x, targets: y)
    }

    /// The numbers under `key` in run.json.
    func numbers(_ key: String) -> [Double]? {
        run[key]?.arrayValue?.compactMap(\.doubleValue)
    }

    /// A model written by the generator (final weights or gradients).
    static func model(_ relative: String) throws -> Model {
        try ModelFile.read(path: try FixturePaths.require(relative)).model
    }
}

/// Fails unless `actual[i]` is within `relative · max(1, |expected[i]|)` of `expected[i]` for every `i`.
func assertRelativelyClose(_ actual: [Double], _ expected: [Double], relative: Double, _ message: String,
                           file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count: \(message)", file: file, line: line)
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let allowed = relative * max(1, abs(e))
        if !(abs(a - e) <= allowed) {
            XCTFail("\(message)[\(index)]: \(a) vs expected \(e) (allowed \(allowed))", file: file, line: line)
            return
        }
    }
}
