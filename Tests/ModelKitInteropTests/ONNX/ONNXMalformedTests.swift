import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Damaged and hostile ONNX files (Fixtures/malformed/onnx, README.md there): each gives a one-line error, never a
/// crash or an allocation of the size a file claims.
final class ONNXMalformedTests: XCTestCase {
    /// File → the error kind and a piece of the message `read` must give.
    private let expectations: [(String, ONNXError.Kind, String)] = [
        ("empty.onnx", .notONNX, "empty"),
        ("truncated.onnx", .truncated, "truncated"),
        ("random-bytes.onnx", .notONNX, "not an ONNX model"),
        ("no-graph.onnx", .notONNX, "has no graph (field 7)"),
        ("deep-nesting.onnx", .corrupt, "deeper than 100"),
        ("external-parent-path.onnx", .externalData, "'../../etc/passwd' leaves the model's folder"),
        ("external-absolute-path.onnx", .externalData, "'/etc/passwd' is an absolute path"),
        ("external-offset-past-end.onnx", .externalData, "offset 4096 lies past the end"),
        ("external-missing-file.onnx", .externalData, "'missing-weights.bin' does not exist"),
        ("raw-data-size-mismatch.onnx", .corrupt, "raw_data holds 100 bytes but dims [5, 6] of float32 need 120"),
        ("dims-overflow.onnx", .corrupt, "[1099511627776, 1099511627776] whose float32 size overflows"),
        ("huge-dims.onnx", .corrupt, "raw_data holds 16 bytes but dims [1048576, 262144] of float32 need 1099511627776"),
        ("huge-dims-typed.onnx", .corrupt, "float_data holds 3 values but dims [1048576, 262144] need 274877906944"),
        ("negative-dims.onnx", .corrupt, "negative dim in [-1, 6]"),
        ("typed-count-mismatch.onnx", .corrupt, "float_data holds 3 values but dims [5] need 5"),
        ("initializer-without-data.onnx", .corrupt, "'fc1.bias' has dims [5] but no data"),
        ("string-weight.onnx", .unsupported, "element type string"),
        ("unsupported-op.onnx", .unsupported, "'conv' (Conv)"),
        ("gemm-transa.onnx", .unsupported, "transA=1"),
        ("non-chain.onnx", .unsupported, "not a chain"),
        ("two-inputs.onnx", .unsupported, "depends on 2 graph inputs ('input', 'mask')"),
        ("duplicate-producer.onnx", .corrupt, "value 'h1' is produced by two nodes"),
        ("dangling-input.onnx", .corrupt, "value 'nowhere'"),
    ]

    private func corpus(_ name: String) throws -> String { try FixturePaths.require("malformed/onnx/" + name) }

    private func assertOneLine(_ error: Error, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = String(describing: error)
        XCTAssertFalse(text.contains("\n"), "\(label): not one line: \(text)", file: file, line: line)
        XCTAssertLessThan(text.count, 600, "\(label): too long", file: file, line: line)
    }

    func test_OD1_everyCorpusFileGivesItsOneLineError() throws {
        let listed = Set(try FileManager.default.contentsOfDirectory(atPath: FixturePaths.fixture("malformed/onnx"))
            .filter { $0.hasSuffix(".onnx") })
        XCTAssertEqual(listed, Set(expectations.map(\.0)), "every corpus file has an expectation here")
        for (name, kind, fragment) in expectations {
            XCTAssertThrowsError(try ONNXFormat.read(path: try corpus(name)), name) { error in
                guard let error = error as? ONNXError else { return XCTFail("\(name): \(error) is not an ONNXError") }
                XCTAssertEqual(error.kind, kind, "\(name): \(error)")
                XCTAssertTrue(error.message.contains(fragment), "\(name): «\(error.message)» lacks «\(fragment)»")
                assertOneLine(error, name)
            }
        }
    }

    func test_OS2_weightReadingAndSummaryFailCleanlyToo() throws {
        for (name, _, _) in expectations {
            let path = try corpus(name)
            do { _ = try ONNXFormat.summary(path: path) } catch { assertOneLine(error, "summary \(name)") }
            do { _ = try ONNXFormat.readWeights(path: path) } catch { assertOneLine(error, "readWeights \(name)") }
        }
        // A graph that cannot be mapped still has a summary and readable weights.
        let summary = try ONNXFormat.summary(path: try corpus("unsupported-op.onnx"))
        XCTAssertEqual(summary.nodes.map(\.opType), ["Gemm", "Conv", "Gemm"])
        XCTAssertEqual(try ONNXFormat.readWeights(path: try corpus("non-chain.onnx")).count, 5)
        XCTAssertThrowsError(try ONNXFormat.readWeights(path: try corpus("huge-dims.onnx")))
        XCTAssertThrowsError(try ONNXFormat.readWeights(path: try corpus("string-weight.onnx"))) { error in
            XCTAssertTrue("\(error)".contains("'fc1.weight' (string)"), "\(error)")
        }
    }

    /// A symlink in the model's folder that points outside it must not be followed.
    func test_OT3_externalDataSymlinkEscapingTheFolderIsRefused() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let outside = try FixturePaths.scratchDirectory(for: self)
        let model = try FixturePaths.require("models/onnx/variants/external/model.onnx")
        let weights = try FixturePaths.require("models/onnx/variants/external/weights.bin")
        try FileManager.default.createDirectory(atPath: directory + "/model", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: directory + "/model/model.onnx")
        try FileManager.default.copyItem(atPath: weights, toPath: outside + "/weights.bin")
        try FileManager.default.createSymbolicLink(atPath: directory + "/model/weights.bin",
                                                   withDestinationPath: outside + "/weights.bin")
        XCTAssertThrowsError(try ONNXFormat.read(path: directory + "/model/model.onnx")) { error in
            XCTAssertEqual((error as? ONNXError)?.kind, .externalData)
            XCTAssertTrue("\(error)".contains("outside the model's folder"), "\(error)")
        }
        // A symlink that stays inside the folder is fine.
        try FileManager.default.removeItem(atPath: directory + "/model/weights.bin")
        try FileManager.default.copyItem(atPath: weights, toPath: directory + "/model/real.bin")
        try FileManager.default.createSymbolicLink(atPath: directory + "/model/weights.bin", withDestinationPath: "real.bin")
        XCTAssertEqual(try ONNXFormat.read(path: directory + "/model/model.onnx").model.tensors.count, 4)
    }

    func test_OT3_externalDataShorterThanTheTensorIsRefused() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        try FileManager.default.copyItem(atPath: try FixturePaths.require("models/onnx/variants/external/model.onnx"),
                                         toPath: directory + "/model.onnx")
        let weights = try FixturePaths.bytes(try FixturePaths.require("models/onnx/variants/external/weights.bin"))
        try FixturePaths.write(Array(weights.dropLast(4)), to: directory + "/weights.bin")
        XCTAssertThrowsError(try ONNXFormat.read(path: directory + "/model.onnx")) { error in
            XCTAssertEqual((error as? ONNXError)?.kind, .externalData, "\(error)")
            XCTAssertTrue("\(error)".contains("exceeds"), "\(error)")
        }
    }

    func test_OD1_everyTruncationOfAValidModelThrows() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let bytes = try FixturePaths.bytes(try ONNXTestSupport.model("variants/gemm_attributes.onnx"))
        let path = directory + "/cut.onnx"
        MalformedInput.assertEveryTruncationThrows(bytes, exhaustiveUpTo: bytes.count) { prefix in
            try FixturePaths.write(prefix, to: path)
            _ = try ONNXFormat.read(path: path)
        }
    }

    /// Random byte changes in a valid model: whatever happens, no crash, and errors are one line.
    func test_OD3_randomCorruptionNeverCrashes() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let original = try FixturePaths.bytes(try ONNXTestSupport.model("variants/decomposed.onnx"))
        var generator = SplitMix64(seed: 2024)
        let path = directory + "/mutated.onnx"
        for round in 0..<250 {
            var bytes = original
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % UInt64(bytes.count))
                bytes[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            try FixturePaths.write(bytes, to: path)
            do { _ = try ONNXFormat.read(path: path) } catch { assertOneLine(error, "round \(round)") }
            do { _ = try ONNXFormat.summary(path: path) } catch { assertOneLine(error, "summary round \(round)") }
        }
    }

    func test_OD3_namesFromTheFileCannotBreakTheMessageIntoLines() {
        XCTAssertEqual(MessageText.quoted("a\nb'c\u{7}"), "'a\\nb\\'c\\u{7}'")
        XCTAssertEqual(MessageText.quoted(String(repeating: "x", count: 500)).count, 123, "120 characters, an ellipsis, two quotes")
    }
}
