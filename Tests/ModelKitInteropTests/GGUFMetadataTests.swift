import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Metadata values of every type, read from the file gguf-py wrote (Fixtures/models/gguf/metadata_types.gguf).
final class GGUFMetadataTests: XCTestCase {
    /// Each key has the type gguf-py wrote and, for nested arrays, the nesting gguf-py's reader flattens away.
    func test_G4_everyValueTypeAsWritten() throws {
        let header = try GGUFFormat.readHeader(path: try GGUFFixtures.model("metadata_types.gguf"))
        let written = try XCTUnwrap(try GGUFFixtures.readerViews()["files"]?["metadata_types.gguf"]?["written"]?.objectValue)
        XCTAssertEqual(written.count, 34)
        XCTAssertTrue(header.tensors.isEmpty)
        for (key, spec) in written {
            let value = try XCTUnwrap(header[key], key)
            XCTAssertEqual(value.type.description, spec["type"]?.stringValue, "\(key): type")
            if let subType = spec["sub_type"]?.stringValue, case .array(let elementType, _) = value {
                XCTAssertEqual(elementType.description, subType, "\(key): element type")
            }
            assertStructure(value, try XCTUnwrap(spec["value"]), key)
        }
        // Spot checks of the extremes.
        XCTAssertEqual(header["test.uint64"], .uint64(.max))
        XCTAssertEqual(header["test.int64"], .int64(.min))
        XCTAssertEqual(header["test.float32"], .float32(0.1))
        XCTAssertEqual(header["test.float32_negative_zero"]?.doubleValue?.sign, .minus)
        XCTAssertEqual(header["test.string_empty"], .string(""))
        XCTAssertEqual(header["test.string_unicode"]?.stringValue, "héllo ✓ 日本語 \u{1F600} \"quoted\" \\ tab\tnew\nline")
        XCTAssertEqual(header["test.array.nested_3_deep"],
                       .array(.array, [.array(.array, [.array(.float32, [.float32(1.5), .float32(2.5)]), .array(.float32, [.float32(3.5)])]),
                                       .array(.array, [.array(.float32, [.float32(4.5)])])]))
    }

    /// `summary` renders values on one line for `inspect`, cutting long strings and arrays.
    func test_G4_summaryIsOneLine() throws {
        let header = try GGUFFormat.readHeader(path: try GGUFFixtures.model("metadata_types.gguf"))
        XCTAssertEqual(header["test.uint64"]?.summary(), "18446744073709551615")
        XCTAssertEqual(header["test.bool_true"]?.summary(), "true")
        XCTAssertEqual(header["test.string_unicode"]?.summary(maximumStringLength: 5), "\"héllo…\"")
        XCTAssertEqual(header["test.array.int32"]?.summary(maximumElements: 2), "[INT32 × 3: -2147483648, 7, …]")
        XCTAssertEqual(header["test.array.nested_int32"]?.summary(maximumElements: 2), "[ARRAY × 3: [INT32 × 3: 1, …], [INT32 × 1: 4], …]")
        XCTAssertFalse(header["test.string_unicode"]?.summary().contains("\n") ?? true, "a summary is one line")
    }

    /// An empty array (gguf-py cannot write one; ggml can) reads as an empty array of its element type.
    func test_G4_emptyArray() throws {
        let bytes = GGUFBytes.file(entries: [GGUFBytes.entry("test.empty", .array, GGUFBytes.u32(GGUFValueType.string.rawValue) + GGUFBytes.u64(0))],
                                   infos: [], data: [])
        XCTAssertEqual(try GGUFFormat.readHeader(bytes: bytes)["test.empty"], .array(.string, []))
    }

    /// Compares a value with the Python literal gguf-py wrote: nested lists stay nested.
    private func assertStructure(_ value: GGUFValue, _ literal: JSONValue, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        if case .array(_, let elements) = value {
            guard let list = literal.arrayValue, list.count == elements.count else {
                return XCTFail("\(label): \(elements.count) elements vs written \(literal)", file: file, line: line)
            }
            for (index, (element, item)) in zip(elements, list).enumerated() { assertStructure(element, item, "\(label)[\(index)]", file: file, line: line) }
        } else if case .float32(let number) = value, case .number(let text) = literal {
            // gguf-py packed the Python float with struct "f": the float32 nearest to the literal.
            XCTAssertEqual(number.bitPattern, Float(Double(text) ?? .nan).bitPattern, "\(label): \(number) vs written \(text)", file: file, line: line)
        } else {
            XCTAssertTrue(ggufLeafEquals(value, literal), "\(label): \(value) vs written \(literal)", file: file, line: line)
        }
    }
}
