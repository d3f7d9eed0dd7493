import Foundation
import XCTest
import ModelKit
import ModelKitTestSupport

/// `modelkit finetune` against PyTorch: the weights torch reached with the same start, data and settings
/// (Fixtures/expected/training, made by Fixtures/generate/training_fixtures.py).
final class FinetuneCommandTests: XCTestCase {
    let exampleArguments = ["--data", "Fixtures/models/training/example-teacher.npz", "--loss", "cross-entropy",
                            "--optimizer", "sgd", "--lr", "0.1", "--epochs", "3", "--batch-size", "50", "--no-shuffle"]

    /// Dense weights (as `[out, in]` values) and biases, in layer order.
    private func denseParameters(_ model: Model) throws -> [[Float]] {
        var result: [[Float]] = []
        for layer in model.layers where layer.kind == .dense {
            let weight = try XCTUnwrap(model.parameter("weight", of: layer))
            result.append(weight.layout == .inOut ? try weight.tensor.transposed2D().floatValues() : weight.tensor.floatValues())
            if let bias = model.parameter("bias", of: layer) { result.append(bias.tensor.floatValues()) }
        }
        return result
    }

    private func assertMatchesTorch(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ours = try denseParameters(try ModelIO.load(path).model)
        let torch = try denseParameters(try ModelIO.load(FixturePaths.fixture("expected/training/example-ce-sgd/final.json")).model)
        XCTAssertEqual(ours.count, torch.count, file: file, line: line)
        for (mine, theirs) in zip(ours, torch) { assertCloseScaled(mine, theirs, relative: 1e-4, file: file, line: line) }
    }

    func test_exampleWithCrossEntropyAndSGDMatchesTorch() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let output = directory + "/tuned.mkit"
        let result = try BinaryRunner.run(["finetune", "Fixtures/models/example/example.json"] + exampleArguments
                                          + ["--output", output, "--log", directory + "/log.jsonl", "--plot", directory + "/loss.svg"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        try assertMatchesTorch(output)

        // The log has every step (10 per epoch) and every epoch; the loss curve is drawn.
        let lines = try String(contentsOfFile: directory + "/log.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("\"event\":\"step\"") || $0.contains("\"event\": \"step\"") }.count, 30)
        XCTAssertEqual(lines.count, 33)
        let torchLosses = try stepLosses()
        for (index, line) in lines.filter({ $0.contains("step\"") && !$0.contains("epoch\",") }).prefix(30).enumerated() {
            guard case .object(let object) = try JSONValue.parse(String(line)), let loss = object["loss"]?.doubleValue else {
                return XCTFail("log line \(index): \(line)")
            }
            XCTAssertEqual(loss, torchLosses[index], accuracy: 1e-5 * max(1, abs(torchLosses[index])), "step \(index)")
        }
        let svg = try String(contentsOfFile: directory + "/loss.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("<polyline"), svg)
    }

    private func stepLosses() throws -> [Double] {
        let text = try String(contentsOfFile: FixturePaths.fixture("expected/training/example-ce-sgd/run.json"), encoding: .utf8)
        guard case .object(let run) = try JSONValue.parse(text), case .array(let losses)? = run["step_losses"] else {
            throw XCTSkip("run.json has no step_losses")
        }
        return losses.compactMap(\.doubleValue)
    }

    func test_modelImportedFromONNXIsWrittenBackAsONNX() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let output = directory + "/tuned.onnx"
        let result = try BinaryRunner.run(["finetune", "Fixtures/models/onnx/example_torchscript.onnx"] + exampleArguments + ["--output", output])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        try assertMatchesTorch(output)

        // onnxruntime runs the fine-tuned file to the outputs our engine computes from it.
        let ours = directory + "/ours.npy"
        XCTAssertEqual(try BinaryRunner.run(["run", output, "--input", "Fixtures/expected/example/batch50.input.npy", "--output", ours]).exitCode, 0)
        guard let python = ProcessInfo.processInfo.environment["MODELKIT_PYTHON"] else { throw XCTSkip("MODELKIT_PYTHON is not set") }
        let script = """
        import sys, numpy as np, onnxruntime as ort
        s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        x = np.load(sys.argv[2]); y = s.run(None, {s.get_inputs()[0].name: x})[0]
        ref = np.load(sys.argv[3]); print(float(np.abs(y - ref).max()))
        """
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", script, output, FixturePaths.fixture("expected/example/batch50.input.npy"), ours]
        let pipe = Pipe()
        check.standardOutput = pipe
        try check.run()
        check.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(check.terminationStatus, 0)
        let difference = try XCTUnwrap(Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), text)
        XCTAssertLessThan(difference, 1e-5)
    }

    func test_frozenLayersKeepTheirWeights() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let output = directory + "/tuned.mkit"
        let result = try BinaryRunner.run(["finetune", "Fixtures/models/example/example.json"] + exampleArguments
                                          + ["--output", output, "--train-last", "1"])
        XCTAssertEqual(result.exitCode, 0, result.standardError)
        let before = try denseParameters(try ModelIO.load(FixturePaths.fixture("models/example/example.json")).model)
        let after = try denseParameters(try ModelIO.load(output).model)
        XCTAssertEqual(before[0], after[0])
        XCTAssertEqual(before[3], after[3])
        XCTAssertNotEqual(before[4], after[4])
    }

    func test_ctrlCFinishesTheStepAndSaves() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let output = directory + "/tuned.mkit"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BinaryRunner.binary)
        process.currentDirectoryURL = URL(fileURLWithPath: FixturePaths.root)
        var arguments = ["finetune", "Fixtures/models/example/example.json"] + exampleArguments + ["--output", output, "--log", directory + "/log.jsonl"]
        arguments[arguments.firstIndex(of: "3")!] = "100000"
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until training is under way.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let log = try? String(contentsOfFile: directory + "/log.jsonl", encoding: .utf8), log.count > 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertNoThrow(try ModelIO.load(output))
    }

    func test_usageErrors() throws {
        let both = try BinaryRunner.run(["finetune", "Fixtures/models/example/example.json"] + exampleArguments
                                        + ["--output", "/tmp/x.mkit", "--val", "Fixtures/models/training/example-teacher.npz", "--val-split", "0.1"])
        XCTAssertEqual(both.exitCode, 64)
        let schedule = try BinaryRunner.run(["finetune", "Fixtures/models/example/example.json"] + exampleArguments
                                            + ["--output", "/tmp/x.mkit", "--schedule", "sideways"])
        XCTAssertEqual(schedule.exitCode, 64)
        XCTAssertTrue(schedule.standardError.contains("step:SIZE:GAMMA"), schedule.standardError)
        let overwrite = try BinaryRunner.run(["finetune", "Fixtures/models/example/example.json"] + exampleArguments
                                             + ["--output", "Fixtures/models/example/example.json"])
        XCTAssertEqual(overwrite.exitCode, 1)
        XCTAssertTrue(overwrite.standardError.contains("refusing to overwrite"), overwrite.standardError)
    }
}
