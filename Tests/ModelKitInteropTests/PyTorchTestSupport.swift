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

/// Archives made from a torch-written fixture with some records replaced or removed, and pickles built from bytes,
/// for the damaged and limit cases no tool writes.
extension TorchFixture {
    /// Copies the members of `fixture` (under `models/torch/`) into `path`, renamed to the folder `archive`,
    /// replacing the records in `replacing` (a `nil` value removes the record; names without the folder).
    static func rewrite(_ fixture: String, to path: String, replacing: [String: [UInt8]?] = [:]) throws {
        let archive = try ZipArchive.open(try model(fixture))
        var members: [AlignedZipWriter.Member] = []
        var pending = replacing
        for member in archive.members {
            let short = String(member.name.drop { $0 != "/" }.dropFirst())
            if let replacement = pending.removeValue(forKey: short) {
                if let replacement { members.append(.init(name: "archive/" + short, body: .bytes(replacement))) }
            } else {
                members.append(.init(name: "archive/" + short, body: .bytes(try archive.contents(of: member).copyBytes())))
            }
        }
        for (short, bytes) in pending.sorted(by: { $0.key < $1.key }) {
            if let bytes { members.append(.init(name: "archive/" + short, body: .bytes(bytes))) }
        }
        try AlignedZipWriter.write(members, to: path)
    }

    static func unicode(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [0x58] + withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init) + utf8
    }

    static func global(_ module: String, _ name: String) -> [UInt8] {
        [0x63] + Array("\(module)\n\(name)\n".utf8)
    }

    static func integer(_ value: Int) -> [UInt8] {
        [0x4A] + withUnsafeBytes(of: Int32(value).littleEndian, Array.init)
    }

    /// `_rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', count), offset, size, stride, False, OrderedDict())`.
    static func floatTensor(key: String, count: Int, offset: Int = 0, size: [Int], stride: [Int]) -> [UInt8] {
        func tuple(_ values: [Int]) -> [UInt8] { [0x28] + values.flatMap(integer) + [0x74] }
        return global("torch._utils", "_rebuild_tensor_v2") + [0x28, 0x28] + unicode("storage") + global("torch", "FloatStorage")
            + unicode(key) + unicode("cpu") + integer(count) + [0x74, 0x51] + integer(offset) + tuple(size) + tuple(stride)
            + [0x89] + global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52]
    }

    /// A protocol-2 pickle of a plain dict of `entries` (name → the bytes that push the value).
    static func dictPickle(_ entries: [(String, [UInt8])]) -> [UInt8] {
        [0x80, 0x02, 0x7D, 0x28] + entries.flatMap { unicode($0.0) + $0.1 } + [0x75, 0x2E]
    }
}
