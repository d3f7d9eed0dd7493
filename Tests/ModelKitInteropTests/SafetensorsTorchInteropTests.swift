import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Our exports read by the real tools: `safetensors.numpy.load_file` checks names, shapes and values, and when torch
/// is installed, the matching `nn.Sequential` loads them with `load_state_dict(strict=True)` and reproduces torch's
/// expected outputs. Runs when MODELKIT_PYTHON names a Python with safetensors and numpy; skipped otherwise.
///
/// The committed record of a run with torch is Fixtures/expected/safetensors/strict_load_result.json; set
/// MODELKIT_SAFETENSORS_PROOF to a path to write it again.
final class SafetensorsTorchInteropTests: XCTestCase {
    func python() throws -> String {
        guard let python = ProcessInfo.processInfo.environment["MODELKIT_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set MODELKIT_PYTHON to a Python with safetensors and numpy (e.g. /work/venv-gen/py/bin/python)")
        }
        let probe = try run(python, ["-c", "import safetensors, numpy"])
        guard probe.status == 0 else { throw XCTSkip("\(python) cannot import safetensors and numpy: \(probe.output)") }
        return python
    }

    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func test_W6_exportsLoadInSafetensorsAndTorchStrictly() throws {
        let python = try python()
        let folder = try FixturePaths.scratchDirectory(for: self)
        var arguments = [try FixturePaths.require("generate/check_safetensors_export.py")]
        for (name, batch) in [("example", "example/batch50"), ("zoo", "zoo/batch7")] {
            let reference = try FixturePaths.require("models/example/\(name).json")
            let export = folder + "/\(name).safetensors"
            try SafetensorsFormat.write(try ModelJSONForm.read(path: reference).model, to: export)
            arguments += ["--check", export, reference, try FixturePaths.require("expected/\(batch).input.npy"),
                          try FixturePaths.require("expected/\(batch).output.npy")]
        }
        if let proof = ProcessInfo.processInfo.environment["MODELKIT_SAFETENSORS_PROOF"], !proof.isEmpty {
            arguments += ["--proof", proof]
        }
        let (status, output) = try run(python, arguments)
        XCTAssertEqual(status, 0, output)
        let report = try JSONValue.parse(output)
        XCTAssertEqual(report["ok"], .bool(true), output)
        let results = try XCTUnwrap(report["results"]?.arrayValue)
        XCTAssertEqual(results.count, 2)
        for result in results {
            XCTAssertEqual(result["problems"], .array([]), output)
            XCTAssertEqual(result["numpy_values_match"], .bool(true), output)
            if report["tools"]?["torch"] != nil {
                XCTAssertEqual(result["strict_load"], .string("ok"), output)
                XCTAssertEqual(result["missing_keys"], .array([]), output)
                XCTAssertEqual(result["unexpected_keys"], .array([]), output)
                XCTAssertNotNil(result["forward"]?["max_abs_difference"]?.doubleValue, output)
            }
        }
    }
}
