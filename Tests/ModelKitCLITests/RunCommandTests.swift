import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// `modelkit run`: outputs against what PyTorch computed (Fixtures/expected/example, made by Fixtures/generate/generate.py).
final class RunCommandTests: XCTestCase {
    let model = "Fixtures/models/example/example.mkit"
    let input50 = "Fixtures/expected/example/batch50.input.npy"
    let output50 = "Fixtures/expected/example/batch50.output.npy"

    private func floats(_ path: String) throws -> [Float] {
        try NumPyFile.readArray(path: FixturePaths.fixture(String(path.dropFirst("Fixtures/".count)))).floatValues()
    }

    private func readNpy(_ path: String) throws -> Tensor { try NumPyFile.readArray(path: path) }

    func test_runWritesPyTorchsOutputsToNpy() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let result = try BinaryRunner.run(["run", model, "--input", input50, "--output", directory + "/out.npy"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        let output = try readNpy(directory + "/out.npy")
        XCTAssertEqual(output.shape, [50, 2])
        assertCloseScaled(try output.floatValues(), try floats(output50))
    }

    func test_batchSizeStreamsTheSameResults() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let result = try BinaryRunner.run(["run", model, "--input", input50, "--output", directory + "/out.npy", "--batch-size", "7"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        assertCloseScaled(try readNpy(directory + "/out.npy").floatValues(), try floats(output50))
    }

    func test_featureMajorInputIsExplainedAndAccepted() throws {
        let transposed = "Fixtures/expected/example/batch50.input_feature_major.npy"
        let refused = try BinaryRunner.run(["run", model, "--input", transposed])
        XCTAssertEqual(refused.exitCode, 1)
        XCTAssertFalse(refused.crashed)
        XCTAssertTrue(refused.standardError.contains("looks like [features, batch]"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("--input-layout feature-major"), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("[400, 50]"), refused.standardError)

        let directory = try FixturePaths.scratchDirectory(for: self)
        let accepted = try BinaryRunner.run(["run", model, "--input", transposed, "--input-layout", "feature-major",
                                             "--output", directory + "/out.npy"])
        XCTAssertEqual(accepted.exitCode, 0, accepted.standardError)
        assertCloseScaled(try readNpy(directory + "/out.npy").floatValues(), try floats(output50))
    }

    func test_wrongFeatureCountNamesBothShapes() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try NumPyFile.writeArray(Tensor(float32: [Float](repeating: 0.5, count: 3 * 399), shape: [3, 399]), to: directory + "/x.npy")
        let result = try BinaryRunner.run(["run", model, "--input", directory + "/x.npy"])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertTrue(result.standardError.contains("[3, 399]") && result.standardError.contains("[batch, 400]"), result.standardError)
        XCTAssertFalse(result.standardError.contains("feature-major"), result.standardError)
    }

    func test_csvAndJSONInputsAndOutputs() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let values = try floats(input50)
        let expected = try floats(output50)
        let rows = (0..<50).map { row in values[(row * 400)..<((row + 1) * 400)].map { "\($0)" } }
        let header = (0..<400).map { "f\($0)" }.joined(separator: ",")
        try (header + "\n" + rows.map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n")
            .write(toFile: directory + "/x.csv", atomically: true, encoding: .utf8)
        try ("[" + rows.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: ",\n") + "]")
            .write(toFile: directory + "/x.json", atomically: true, encoding: .utf8)

        for (input, output) in [("x.csv", "o.csv"), ("x.json", "o.json"), ("x.csv", "o.json")] {
            let result = try BinaryRunner.run(["run", model, "--input", directory + "/" + input, "--output", directory + "/" + output])
            XCTAssertEqual(result.exitCode, 0, result.standardError)
            let written = try InputFile.read(path: directory + "/" + output)
            XCTAssertEqual(written.shape, [50, 2], "\(input) → \(output)")
            assertCloseScaled(try written.floatValues(), expected)
        }
    }

    func test_float64InputIsConvertedAndReportedOnce() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let wide = try readNpy(FixturePaths.fixture("expected/example/batch50.input.npy")).converted(to: .float64)
        try NumPyFile.writeArray(wide, to: directory + "/x64.npy")
        let result = try BinaryRunner.run(["run", model, "--input", directory + "/x64.npy", "--output", directory + "/o.npy",
                                           "--batch-size", "10"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertEqual(result.standardError.components(separatedBy: "converting float64 input to float32").count - 1, 1, result.standardError)
        assertCloseScaled(try readNpy(directory + "/o.npy").floatValues(), try floats(output50))
    }

    func test_tableAndTopK() throws {
        let table = try BinaryRunner.run(["run", model, "--input", "Fixtures/expected/example/batch1.input.npy"])
        XCTAssertEqual(table.exitCode, 0, table.standardError)
        let expected = try floats("Fixtures/expected/example/batch1.output.npy")
        let lines = table.standardOutput.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, table.standardOutput)
        let cells = lines[2].split(separator: " ").compactMap { Float($0) }
        XCTAssertEqual(cells.count, 3, table.standardOutput)  // row index and two outputs
        assertClose(Array(cells.dropFirst()), expected, rtol: 1e-5, atol: 1e-5)

        let top = try BinaryRunner.run(["run", model, "--input", input50, "--top-k", "1"])
        XCTAssertEqual(top.exitCode, 0, top.standardError)
        let reference = try floats(output50)
        let topLines = top.standardOutput.split(separator: "\n").dropFirst(2)
        XCTAssertEqual(topLines.count, 50)
        for (row, line) in topLines.enumerated() {
            let fields = line.split(separator: " ")
            let best = reference[row * 2] >= reference[row * 2 + 1] ? 0 : 1
            XCTAssertEqual(Int(fields[1]), best, "row \(row): \(line)")
        }
    }

    func test_usageErrors() throws {
        XCTAssertEqual(try BinaryRunner.run(["run", model, "--input", input50, "--batch-size", "0"]).exitCode, 64)
        XCTAssertEqual(try BinaryRunner.run(["run", model, "--input", input50, "--output", "/tmp/o.weird"]).exitCode, 64)
        let missing = try BinaryRunner.run(["run", model, "--input", "no/such.npy"])
        XCTAssertEqual(missing.exitCode, 1)
        XCTAssertTrue(missing.standardError.contains("no/such.npy"), missing.standardError)
    }

    /// An MLP exported from `Sequential(Flatten(), Linear, …)` runs on the `[batch, 3, 4]` input torch saw.
    func test_threeDimensionalInputRunsThroughALeadingFlatten() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let result = try BinaryRunner.run(["run", "Fixtures/models/onnx/variants/flatten_dynamo.onnx",
                                           "--input", "Fixtures/expected/onnx/variants/flatten.input.npy",
                                           "--output", directory + "/out.npy"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("input [5, 3, 4] is read as [5, 12]"), result.standardError)
        assertClose(try readNpy(directory + "/out.npy").floatValues(), try floats("Fixtures/expected/onnx/variants/flatten.output.npy"),
                    rtol: 1e-5, atol: 1e-6)
        let wrong = try BinaryRunner.run(["run", model, "--input", "Fixtures/expected/onnx/variants/flatten.input.npy"])
        XCTAssertEqual(wrong.exitCode, 1)
        XCTAssertTrue(wrong.standardError.contains("each sample here holds 3×4 values, not 400"), wrong.standardError)
    }
}
