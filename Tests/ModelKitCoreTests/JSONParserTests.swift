import XCTest
import ModelKitCore

final class JSONParserTests: XCTestCase {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    func assertInvalid(_ text: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(reason), "'\(error)' does not mention '\(reason)'", file: file, line: line)
        }
    }

    func test_parsesEveryValueKindKeepingKeyOrderAndNumberText() throws {
        let value = try parse(#"{"z": [1, -2.5e-3, true, false, null], "a": {"s": "x\u00e9\ud83d\ude00\n"}, "big": 9223372036854775807}"#)
        XCTAssertEqual(value.objectValue?.keys, ["z", "a", "big"])
        XCTAssertEqual(value["z"]?[1], .number("-2.5e-3"))
        XCTAssertEqual(value["a"]?["s"]?.stringValue, "xé😀\n")
        XCTAssertEqual(Int64(value["big"].flatMap { if case .number(let t) = $0 { t } else { nil } } ?? ""), Int64.max)
    }

    func test_deepNestingIsRefusedWithoutRecursingToTheBottom() {
        assertInvalid(String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), "nesting deeper than 64")
        assertInvalid(String(repeating: #"{"a":"#, count: 100_000), "nesting deeper than 64")
    }

    func test_invalidInputsAreErrorsWithOffsets() {
        assertInvalid(#"{"a": 1, "a": 2}"#, "duplicate key")
        assertInvalid(#"[1, 2"#, "end of input")
        assertInvalid(#"[01]"#, "expected ',' or ']'")
        assertInvalid(#"[1.]"#, "decimal point needs digits")
        assertInvalid(#"["\x"]"#, "invalid escape")
        assertInvalid("[\"a\u{01}\"]", "control character")
        assertInvalid(#"["\ud800"]"#, "surrogate")
        assertInvalid(#"[1] x"#, "after the end")
        assertInvalid(#"nul"#, "end of input")
        assertInvalid("", "end of input")
        XCTAssertThrowsError(try JSONValue.parse([0x5B, 0x22, 0xFF, 0xFE, 0x22, 0x5D])) { error in
            XCTAssertTrue("\(error)".contains("not valid UTF-8"))
        }
    }

    func test_writerRoundTripsAndEscapes() throws {
        let value = try parse(#"{"k": ["a\"b\\c\u0001", 1e5, [], {}], "e": {}}"#)
        for writer in [JSONWriter(), JSONWriter(indent: 2)] {
            XCTAssertEqual(try JSONValue.parse(writer.string(value)), value)
        }
        XCTAssertEqual(JSONWriter().string(.array([.string("\u{01}")])), #"["\u0001"]"#)
    }

    func test_longScalarArraysArePackedToTheLineWidth() {
        let array = JSONValue.array((0..<200).map { .integer($0) })
        let text = JSONWriter(indent: 2, lineWidth: 40).string(.object(JSONObject([("v", array)])))
        XCTAssertTrue(text.split(separator: "\n").allSatisfy { $0.count <= 40 })
        XCTAssertEqual(try JSONValue.parse(text)["v"], array)
    }
}
