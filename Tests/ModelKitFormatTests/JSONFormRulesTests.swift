import XCTest
import ModelKitCore
import ModelKitFormat
import ModelKitTestSupport

/// Tests named after the rules of Specs/format.md sections 5–7.
final class JSONFormRulesTests: XCTestCase {
    func json(tensor: String, version: String = "1.0") -> [UInt8] {
        Array("""
        {"format":"modelkit-json","version":"\(version)","model":{"input":{"shape":[null,2]}},"layers":[],"tensors":[\(tensor)]}
        """.utf8)
    }

    func read(_ bytes: [UInt8]) throws -> LoadedModel {
        try bytes.withUnsafeBytes { try ModelJSONForm.read(bytes: $0) }
    }

    func assertJSONError(_ bytes: [UInt8], contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(bytes), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "'\(error)' does not mention '\(text)'", file: file, line: line)
        }
    }

    func test_J01_valuesAreAFlatRowMajorList() throws {
        let loaded = try read(json(tensor: #"{"name":"t","dtype":"float32","shape":[2,2],"encoding":"raw","values":[1,2,3,4]}"#))
        XCTAssertEqual(loaded.model.tensor(named: "t")?.tensor.floatValues(), [1, 2, 3, 4])
        assertJSONError(json(tensor: #"{"name":"t","dtype":"float32","shape":[2,2],"encoding":"raw","values":[[1,2],[3,4]]}"#), contains: "has 2 values")
        assertJSONError(Array(#"{"format":"other","version":"1.0"}"#.utf8), contains: "not a ModelKit JSON model")
    }

    func test_J02_everyFloat16AndShortestFloat32RoundTripExactly() throws {
        // All 65,536 float16 bit patterns (NaNs included) survive tensor → JSON values → tensor.
        let allHalf = Tensor.make(dtype: .float16, shape: [65536]) { raw in
            for bits in 0..<65536 { raw.storeBytes(of: UInt16(bits).littleEndian, toByteOffset: 2 * bits, as: UInt16.self) }
        }
        let decodedHalf = try TensorValueText.decode(TensorValueText.encode(allHalf), name: "h", dtype: .float16, shape: [65536])
        XCTAssertTrue(decodedHalf.bytes.elementsEqual(allHalf.bytes))
        var generator = SplitMix64(seed: 3)
        let floats = Tensor.make(dtype: .float32, shape: [20000]) { raw in
            for index in 0..<20000 { raw.storeBytes(of: UInt32(truncatingIfNeeded: generator.next()), toByteOffset: 4 * index, as: UInt32.self) }
        }
        let decoded = try TensorValueText.decode(TensorValueText.encode(floats), name: "f", dtype: .float32, shape: [20000])
        XCTAssertTrue(decoded.bytes.elementsEqual(floats.bytes), "random float32 bit patterns, NaN payloads included")
        let doubles = Tensor.make(dtype: .float64, shape: [5000]) { raw in
            for index in 0..<5000 { raw.storeBytes(of: generator.next(), toByteOffset: 8 * index, as: UInt64.self) }
        }
        let decodedDoubles = try TensorValueText.decode(TensorValueText.encode(doubles), name: "d", dtype: .float64, shape: [5000])
        XCTAssertTrue(decodedDoubles.bytes.elementsEqual(doubles.bytes))
    }

    func test_J02_nonFiniteValuesAreStrings() throws {
        let tensor = Tensor(float32: [.nan, .infinity, -.infinity, 1.5], shape: [4])
        XCTAssertEqual(TensorValueText.encode(tensor), .array([.string("nan"), .string("inf"), .string("-inf"), .number("1.5")]))
        let odd = Tensor.make(dtype: .float32, shape: [1]) { $0.storeBytes(of: UInt32(0xFFC0_0001), as: UInt32.self) }
        XCTAssertEqual(TensorValueText.encode(odd), .array([.string("nan:0xffc00001")]))
    }

    func test_J03_countAndRangeAreChecked() {
        assertJSONError(json(tensor: #"{"name":"t","dtype":"float32","shape":[3],"encoding":"raw","values":[1,2]}"#), contains: "has 2 values, but shape [3] needs 3")
        assertJSONError(json(tensor: #"{"name":"t","dtype":"int8","shape":[2],"encoding":"raw","values":[1,300]}"#), contains: "value 1")
        assertJSONError(json(tensor: #"{"name":"t","dtype":"int32","shape":[1],"encoding":"raw","values":[1.5]}"#), contains: "value 0")
        assertJSONError(json(tensor: #"{"name":"t","dtype":"bool","shape":[1],"encoding":"raw","values":[2]}"#), contains: "true or false")
    }

    func test_J03_integerExtremesAreExact() throws {
        let loaded = try read(json(tensor: #"{"name":"t","dtype":"int64","shape":[2],"encoding":"raw","values":[-9223372036854775808,9223372036854775807]}"#))
        let tensor = try XCTUnwrap(loaded.model.tensor(named: "t")?.tensor)
        XCTAssertEqual(tensor.integerElement(at: 0), .min)
        XCTAssertEqual(tensor.integerElement(at: 1), .max)
        XCTAssertEqual(TensorValueText.encode(tensor), .array([.number("-9223372036854775808"), .number("9223372036854775807")]))
    }

    func test_J04_binaryToJSONToBinaryIsByteIdentical() throws {
        var model = SampleModels.dense([6, 5, 5, 3])
        model.addTensor(ModelTensor(name: "half", tensor: try Tensor(float32: [0.1, -2, 65504, 1e-7], shape: [2, 2]).converted(to: .float16)))
        model.addTensor(ModelTensor(name: "brain", tensor: try Tensor(float32: [0.1, -2, 3e38, 1e-30], shape: [4]).converted(to: .bfloat16)))
        model.info.metadata = ["b": "2", "a": "1"]
        let directory = try FixturePaths.scratchDirectory(for: self)
        try MKitWriter.write(model, to: directory + "/a.mkit")
        let first = try MKitReader.read(path: directory + "/a.mkit")
        try ModelJSONForm.write(first.model, to: directory + "/a.json")
        let viaJSON = try ModelJSONForm.read(path: directory + "/a.json")
        try MKitWriter.write(viaJSON.model, to: directory + "/b.mkit")
        XCTAssertEqual(try FixturePaths.bytes(directory + "/a.mkit"), try FixturePaths.bytes(directory + "/b.mkit"))
        for (a, b) in zip(first.model.tensors, viaJSON.model.tensors) {
            XCTAssertTrue(a.tensor.hasSameContents(as: b.tensor), a.name)
        }
    }

    func test_J05_sizeLimitIsStated() {
        XCTAssertEqual(ModelJSONForm.maximumFileSize, 1 << 30)
    }

    func test_V02_jsonVersionPolicy() throws {
        let tensor = #"{"name":"t","dtype":"float32","shape":[1],"encoding":"raw","values":[1]}"#
        XCTAssertNoThrow(try read(json(tensor: tensor, version: "1.9")))
        assertJSONError(json(tensor: tensor, version: "2.0"), contains: "2.0 is newer than this reader's 1.1")
        assertJSONError(json(tensor: tensor, version: "one"), contains: "not MAJOR.MINOR")
    }

    func test_V03_frozenVersion1Point0FixtureLoads() throws {
        let binary = try MKitReader.read(path: try FixturePaths.require("models/mkit/frozen-v1.0.mkit"))
        let json = try ModelJSONForm.read(path: try FixturePaths.require("models/mkit/frozen-v1.0.json"))
        XCTAssertEqual(binary.formatVersion, "1.0")
        XCTAssertEqual(binary.model.tensors.count, json.model.tensors.count)
        for (a, b) in zip(binary.model.tensors, json.model.tensors) { XCTAssertTrue(a.tensor.hasSameContents(as: b.tensor), a.name) }
        XCTAssertTrue(binary.model.analyze().isValid)
        // The frozen file's bytes are pinned: a writer change that alters them is a format change.
        XCTAssertEqual(CRC32.hex(CRC32.checksum(try FixturePaths.bytes(FixturePaths.fixture("models/mkit/frozen-v1.0.mkit")))),
                       try String(contentsOfFile: FixturePaths.fixture("models/mkit/frozen-v1.0.crc32"), encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func test_W01_failedWriteLeavesPreviousFileIntact() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/m.mkit"
        try AtomicFileWriter.write(Array("old".utf8), to: path)
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicFileWriter.write(to: path) { sink in
            try sink.write(Array("partial".utf8))
            throw Boom()
        })
        XCTAssertEqual(try FixturePaths.bytes(path), Array("old".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["m.mkit"], "no temporary file is left behind")
    }

    func test_W01_writeIntoMissingDirectoryFailsCleanly() {
        XCTAssertThrowsError(try AtomicFileWriter.write([1], to: "/nonexistent-dir-\(UInt32.random(in: 0...UInt32.max))/x.mkit")) { error in
            XCTAssertTrue("\(error)".contains("cannot create a temporary file"), "\(error)")
        }
    }

    func test_W02_tensorsAreAlignedInHeaderOrder() throws {
        let layout = MKitWriter.layout(SampleModels.dense([7, 3, 2]))
        XCTAssertEqual(layout.dataStart % 64, 0)
        var previous = -1
        for tensor in layout.header.tensors {
            XCTAssertEqual(tensor.offset % 64, 0)
            XCTAssertGreaterThan(tensor.offset, previous)
            previous = tensor.offset
        }
    }

    func test_W03_equalModelsGiveIdenticalFiles() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        var model = SampleModels.dense([4, 3])
        model.info.metadata = ["z": "1", "a": "2", "m": "3"]
        try MKitWriter.write(model, to: directory + "/1.mkit")
        try MKitWriter.write(model, to: directory + "/2.mkit")
        XCTAssertEqual(try FixturePaths.bytes(directory + "/1.mkit"), try FixturePaths.bytes(directory + "/2.mkit"))
    }
}
