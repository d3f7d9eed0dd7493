import XCTest
import ModelKitCore
import ModelKitFormat
import ModelKitTestSupport

/// Tests named after the rules of Specs/format.md section 3.
final class HeaderRulesTests: XCTestCase {
    let data = MKitBytes.floats([1, 2, 3, 4])

    func read(header: String) throws -> LoadedModel { try MKitBytes.read(MKitBytes.build(header: header, data: data)) }

    func assertHeaderError(_ header: String, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(header: header), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "'\(error)' does not mention '\(text)'", file: file, line: line)
        }
    }

    var crc: String { CRC32.hex(CRC32.checksum(data)) }

    func test_H01_requiredKeys() {
        assertHeaderError(#"{"layers":[],"tensors":[],"data_size":16}"#, contains: "missing 'model'")
        assertHeaderError(#"{"model":{},"tensors":[],"data_size":16}"#, contains: "missing 'layers'")
        assertHeaderError(#"{"model":{},"layers":[],"data_size":16}"#, contains: "missing 'tensors'")
        assertHeaderError(#"{"model":{},"layers":[],"tensors":[]}"#, contains: "missing 'data_size'")
        assertHeaderError(#"{"model":{},"layers":[],"tensors":[{"name":"w","dtype":"float32","shape":[4],"offset":0,"length":16,"encoding":"raw"}],"data_size":16}"#, contains: "missing 'crc32'")
        assertHeaderError(#"{"model":{},"layers":[{"kind":"relu"}],"tensors":[],"data_size":16}"#, contains: "needs a non-empty 'name'")
    }

    func test_H02_namesUniqueAndReferencesResolve() {
        let tensor = #"{"name":"w","dtype":"float32","shape":[4],"offset":0,"length":16,"encoding":"raw","crc32":"\#(crc)"}"#
        assertHeaderError(#"{"model":{},"layers":[],"tensors":[\#(tensor),\#(tensor)],"data_size":16}"#, contains: "overlap")
        assertHeaderError(#"{"model":{},"layers":[{"name":"a","kind":"relu"},{"name":"a","kind":"relu"}],"tensors":[\#(tensor)],"data_size":16}"#, contains: "layer name 'a' is used twice")
        assertHeaderError(#"{"model":{},"layers":[{"name":"fc","kind":"dense","parameters":{"weight":"nope"}}],"tensors":[\#(tensor)],"data_size":16}"#, contains: "names tensor 'nope'")
    }

    func test_H02_unreferencedTensorIsCarried() throws {
        let tensor = #"{"name":"state","dtype":"float32","shape":[4],"offset":0,"length":16,"encoding":"raw","crc32":"\#(crc)"}"#
        let loaded = try read(header: #"{"model":{},"layers":[],"tensors":[\#(tensor)],"data_size":16}"#)
        XCTAssertNotNil(loaded.model.tensor(named: "state"))
    }

    func test_H03_unknownDTypeIsRefused() {
        assertHeaderError(MKitBytes.header(dtype: "complex64", data: data), contains: "'dtype' must be one of")
    }

    func test_H03_elementSizes() {
        XCTAssertEqual(DType.allCases.map(\.byteSize), [4, 2, 2, 8, 1, 2, 4, 8, 1, 1])
    }

    func test_H04_shapeTimesDTypeMustEqualLength() {
        assertHeaderError(MKitBytes.header(shape: "[3]", data: data), contains: "needs 12 bytes, the header says 16")
        assertHeaderError(MKitBytes.header(shape: "[1,1,1,1,1,1,1,1,1]", data: data), contains: "at most 8")
        assertHeaderError(MKitBytes.header(shape: "[-4]", data: data), contains: "non-negative")
    }

    func test_H04_scalarShapeHasOneElement() throws {
        XCTAssertEqual(Shape([]).elementCount, 1)
        XCTAssertNil(Shape([Int.max, 2]).elementCount)
    }

    func test_H05_unknownEncodingIsRefusedByName() {
        assertHeaderError(MKitBytes.header(encoding: "zstd-magic", data: data), contains: "encoding 'zstd-magic'")
    }

    func test_H06_layoutValuesAreChecked() {
        let header = MKitBytes.header(data: data).replacingOccurrences(of: "\"out_in\"", with: "\"rows_cols\"")
        assertHeaderError(header, contains: "'layout' must be")
    }

    func test_H07_inputShapeWithDynamicBatch() throws {
        let loaded = try read(header: MKitBytes.header(data: data))
        XCTAssertEqual(loaded.model.info.inputShape, [nil, 2])
    }

    func test_H08_unknownKeysAreIgnoredAndPreserved() throws {
        var header = MKitBytes.header(data: data)
        header = header.replacingOccurrences(of: #""data_size":16}"#, with: #""data_size":16,"future":{"a":[1,2]}}"#)
        header = header.replacingOccurrences(of: #""producer":"test","#, with: #""producer":"test","trainer":"x","#)
        header = header.replacingOccurrences(of: #""kind":"dense","#, with: #""kind":"dense","note":"hi","#)
        header = header.replacingOccurrences(of: #""encoding":"raw","#, with: #""encoding":"raw","quant":null,"#)
        let loaded = try read(header: header)
        XCTAssertEqual(loaded.model.extra["future"], .array([.number("1"), .number("2")]).objectWrapped("a"))
        XCTAssertEqual(loaded.model.info.extra["trainer"], .string("x"))
        XCTAssertEqual(loaded.model.layers[0].extra["note"], .string("hi"))
        XCTAssertEqual(loaded.model.tensor(named: "w")?.extra["quant"], .null)
        // Rewriting keeps them.
        let directory = try FixturePaths.scratchDirectory(for: self)
        try MKitWriter.write(loaded.model, to: directory + "/out.mkit")
        let again = try MKitReader.read(path: directory + "/out.mkit")
        XCTAssertEqual(again.model.extra, loaded.model.extra)
        XCTAssertEqual(again.model.info.extra, loaded.model.info.extra)
        XCTAssertEqual(again.model.layers, loaded.model.layers)
        XCTAssertEqual(again.model.tensor(named: "w")?.extra, loaded.model.tensor(named: "w")?.extra)
    }

    func test_H09_metadataValuesMustBeStrings() {
        let header = MKitBytes.header(data: data).replacingOccurrences(of: #""metadata":{}"#, with: #""metadata":{"epochs":3}"#)
        assertHeaderError(header, contains: "must be a string (H9)")
    }

    func test_headerNestedTooDeepIsAnError() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let header = MKitBytes.header(data: data).replacingOccurrences(of: #""metadata":{}"#, with: #""metadata":{}, "deep": \#(deep)"#)
        assertHeaderError(header, contains: "nesting deeper than 64")
    }

    func test_unknownLayerKindIsRefusedNamingIt() {
        let header = MKitBytes.header(data: data).replacingOccurrences(of: #""kind":"dense""#, with: #""kind":"conv2d""#)
        assertHeaderError(header, contains: "layer 'fc' has kind 'conv2d'")
    }
}

private extension JSONValue {
    func objectWrapped(_ key: String) -> JSONValue { .object(JSONObject([(key, self)])) }
}
