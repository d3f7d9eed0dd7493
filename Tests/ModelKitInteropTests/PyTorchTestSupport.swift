import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Fixture paths and comparisons for the PyTorch tests. Expected values are what torch.load returned when
/// Fixtures/generate/pytorch_fixtures.py ran (Fixtures/expected/torch/*.json), never our own output.
enum TorchFixture {
    static func model(_ name: String) throws -> String { try FixturePaths.require("models/torch/\(name)") }
    static func malformed(_ name: String) throws -> String { try FixturePaths.require("malformed/torch/\(name)") }

    static func expected(_ name: String) throws -> JSONValue {
        let path = try FixturePaths.require("expected/torch/\(name).json")
        return try JSONValue.parse(String(decoding: try FixturePaths.bytes(path), as: UTF8.self))
    }

    /// The expected tensors of the section at `key` ("" is the top level).
    static func expectedTensors(_ name: String, key: String = "") throws -> [JSONValue] {
        let document = try expected(name)
        let sections = try XCTUnwrap(document["sections"]?.arrayValue)
        let section = try XCTUnwrap(sections.first { $0["key"]?.stringValue == key }, "no section '\(key)' in \(name).json")
        return try XCTUnwrap(section["tensors"]?.arrayValue)
    }

    /// Checks names, order, dtypes, shapes, the CRC-32 of the bytes, and every recorded value exactly.
    static func assertMatches(_ tensors: [ModelTensor], _ expected: [JSONValue], _ label: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(tensors.map(\.name), expected.compactMap { $0["name"]?.stringValue }, "\(label): names", file: file, line: line)
        for (tensor, entry) in zip(tensors, expected) {
            assertMatches(tensor.tensor, entry, "\(label) \(tensor.name)", file: file, line: line)
        }
    }

    static func assertMatches(_ tensor: Tensor, _ entry: JSONValue, _ label: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(tensor.dtype.rawValue, entry["dtype"]?.stringValue, "\(label): dtype", file: file, line: line)
        XCTAssertEqual(tensor.shape.dimensions, entry["shape"]?.arrayValue?.compactMap(\.intValue), "\(label): shape", file: file, line: line)
        XCTAssertEqual(Int(CRC32.checksum(tensor.bytes)), entry["crc32"]?.intValue, "\(label): crc32 of the bytes", file: file, line: line)
        guard let values = entry["values"]?.arrayValue else {
            XCTFail("\(label): no values", file: file, line: line)
            return
        }
        if entry["values_complete"]?.boolValue == true {
            XCTAssertEqual(values.count, tensor.elementCount, "\(label): element count", file: file, line: line)
        }
        for (index, value) in values.enumerated() where index < tensor.elementCount {
            switch tensor.dtype {
            case .bool:
                XCTAssertEqual(tensor.integerElement(at: index), value.boolValue.map { $0 ? 1 : 0 }, "\(label)[\(index)]", file: file, line: line)
            case .int8, .int16, .int32, .int64, .uint8:
                XCTAssertEqual(tensor.integerElement(at: index), value.intValue.map(Int64.init), "\(label)[\(index)]", file: file, line: line)
            case .float32, .float16, .bfloat16, .float64:
                XCTAssertEqual(tensor.element(at: index), value.doubleValue, "\(label)[\(index)]", file: file, line: line)
            }
        }
    }

    /// Removes stale markers the hostile fixtures would create if anything executed them.
    static func removePwnedMarkers() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: "/tmp") where name.hasPrefix("modelkit-pwned-") {
            try FileManager.default.removeItem(atPath: "/tmp/" + name)
        }
    }

    static func pwnedMarkers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("modelkit-pwned-") }
    }

    /// The error `body` throws, as a ``PyTorchError``.
    static func error(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> PyTorchError? {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return nil
        } catch let error as PyTorchError {
            let text = error.description
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            return error
        } catch {
            XCTFail("expected a PyTorchError, got \(type(of: error)): \(error)", file: file, line: line)
            return nil
        }
    }
}
