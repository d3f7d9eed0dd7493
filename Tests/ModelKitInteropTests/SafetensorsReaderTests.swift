import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Reading files written by the real `safetensors` library (Specs/interop/safetensors.md).
final class SafetensorsReaderTests: XCTestCase {
    static let exampleArchitecture = "linear(400,200) relu linear(200,100) relu linear(100,2) softmax"

    /// Checks that `model` has the layers, layouts and bit-identical weights of the torch-written JSON model.
    func assertSameWeights(_ model: Model, as reference: Model, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(model.layers.map(\.kind), reference.layers.map(\.kind), file: file, line: line)
        let ours = model.layers.filter { $0.kind == .dense }, theirs = reference.layers.filter { $0.kind == .dense }
        XCTAssertEqual(ours.count, theirs.count, file: file, line: line)
        for (mine, expected) in zip(ours, theirs) {
            for role in ["weight", "bias"] {
                guard let a = model.parameter(role, of: mine), let b = reference.parameter(role, of: expected) else {
                    return XCTFail("\(mine.name) lacks its \(role)", file: file, line: line)
                }
                XCTAssertEqual(a.tensor.shape, b.tensor.shape, "\(mine.name).\(role)", file: file, line: line)
                XCTAssertEqual(a.layout, b.layout, "\(mine.name).\(role)", file: file, line: line)
                XCTAssertEqual(a.tensor.floatValues().map(\.bitPattern), b.tensor.floatValues().map(\.bitPattern),
                               "\(mine.name).\(role) values", file: file, line: line)
            }
        }
    }

    func test_S11_torchExampleWithArchitectureMatchesTheJSONForm() throws {
        let path = try FixturePaths.require("models/safetensors/example.safetensors")
        let reference = try ModelJSONForm.read(path: try FixturePaths.require("models/example/example.json")).model
        let loaded = try SafetensorsFormat.read(path: path, architecture: try Architecture(parsing: Self.exampleArchitecture))
        assertSameWeights(loaded.model, as: reference)
        XCTAssertEqual(loaded.model.layers.map(\.name), ["fc1", "relu1", "fc2", "relu2", "fc3", "softmax3"])
        XCTAssertEqual(loaded.model.tensor(named: "0.weight")?.layoutSource, .shape)
        XCTAssertEqual(loaded.model.info.name, "example")
        XCTAssertEqual(loaded.model.info.sourceFormat, "safetensors")
        XCTAssertEqual(loaded.model.info.inputShape, [nil, 400])
        XCTAssertEqual(loaded.formatName, "safetensors")
        XCTAssertEqual(loaded.fileSize, try MappedFile.size(of: path))
        XCTAssertEqual(loaded.storedBytes["0.weight"], 200 * 400 * 4)
        XCTAssertTrue(loaded.notes.contains("weights bound by name in natural order: fc1 ← 0.weight, fc2 ← 2.weight, fc3 ← 4.weight"), "\(loaded.notes)")
        XCTAssertTrue(loaded.model.analyze().issues.isEmpty, "\(loaded.model.analyze().issues)")
    }

    func test_S10_tensorsAreViewsOfTheMappedFile() throws {
        let path = try FixturePaths.require("models/safetensors/example.safetensors")
        let (tensors, metadata) = try SafetensorsFormat.readTensors(path: path)
        XCTAssertEqual(tensors.map(\.name), ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"])
        XCTAssertEqual(tensors.map(\.tensor.shape), [[200], [200, 400], [100], [100, 200], [2], [2, 100]])
        XCTAssertEqual(metadata, [:])
        let bytes = try FixturePaths.bytes(path)
        let headerSize = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        var expectedOffset = 8 + headerSize
        for entry in tensors {
            XCTAssertTrue(entry.tensor.storage === tensors[0].tensor.storage, "\(entry.name) is not a view of the one mapping")
            XCTAssertEqual(entry.tensor.byteOffset, expectedOffset, entry.name)
            XCTAssertNil(entry.layout)
            expectedOffset += entry.tensor.byteCount
        }
        XCTAssertEqual(expectedOffset, bytes.count)
    }

    func test_S6_everyDTypeMatchesWhatSafetensorsReads() throws {
        let path = try FixturePaths.require("models/safetensors/all_dtypes.safetensors")
        let expected = try JSONValue.parse(try FixturePaths.bytes(try FixturePaths.require("expected/safetensors/all_dtypes.json")))
        let (tensors, metadata) = try SafetensorsFormat.readTensors(path: path)
        XCTAssertEqual(metadata, ["format": "pt"])
        let entries = try XCTUnwrap(expected["tensors_in_data_order"]?.arrayValue)
        XCTAssertEqual(tensors.map(\.name), entries.compactMap { $0["name"]?.stringValue })
        XCTAssertEqual(Set(tensors.map(\.tensor.dtype)), Set(DType.allCases), "the fixture covers every dtype")
        for (tensor, entry) in zip(tensors, entries) {
            let name = tensor.name
            XCTAssertEqual(tensor.tensor.dtype.rawValue, entry["dtype"]?.stringValue, name)
            XCTAssertEqual(tensor.tensor.shape.dimensions, entry["shape"]?.arrayValue?.compactMap(\.intValue), name)
            let values = try XCTUnwrap(entry["values"]?.arrayValue, name)
            XCTAssertEqual(tensor.tensor.elementCount, values.count, name)
            for (index, value) in values.enumerated() {
                if tensor.tensor.dtype.isFloatingPoint {
                    // float64 holds every value of the narrower types exactly, so equality is bit-exact.
                    XCTAssertEqual(tensor.tensor.element(at: index).bitPattern, value.doubleValue?.bitPattern, "\(name)[\(index)]")
                } else {
                    XCTAssertEqual(tensor.tensor.integerElement(at: index), value.intValue.map(Int64.init), "\(name)[\(index)]")
                }
            }
        }
    }

    func test_S11_withoutArchitectureTheErrorSuggestsOne() throws {
        let path = try FixturePaths.require("models/safetensors/example.safetensors")
        XCTAssertThrowsError(try SafetensorsFormat.read(path: path)) { error in
            guard case .missingArchitecture(_, let suggestion) = error as? SafetensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(suggestion, "linear(400,200) relu linear(200,100) relu linear(100,2)")
            XCTAssertEqual((error as? SafetensorsError)?.kind, .invalidRequest)
            XCTAssertTrue("\(error)".contains("pass --arch, e.g. --arch \"linear(400,200) relu linear(200,100) relu linear(100,2)\""), "\(error)")
        }
    }

    func test_S11_wrongArchitectureOrLayoutIsExplained() throws {
        let path = try FixturePaths.require("models/safetensors/example.safetensors")
        XCTAssertThrowsError(try SafetensorsFormat.read(path: path, architecture: try Architecture(parsing: "linear(400,100) relu linear(100,100) relu linear(100,2)"))) { error in
            XCTAssertEqual("\(error)", "\(path): layer fc1 linear(400,100): weight '0.weight' has shape [200, 400], which fits neither "
                           + "[out, in] nor [in, out] of linear(400,100); check the sizes in --arch (or the layer order)")
        }
        XCTAssertThrowsError(try SafetensorsFormat.read(path: path, architecture: try Architecture(parsing: Self.exampleArchitecture),
                                                        weightLayout: .inOut)) { error in
            XCTAssertTrue("\(error)".contains("it looks transposed: the file stores [out, in], so pass --weight-layout out-in"), "\(error)")
        }
        XCTAssertThrowsError(try SafetensorsFormat.read(path: path, architecture: try Architecture(parsing: "linear(400,200) relu linear(200,100)"))) { error in
            XCTAssertTrue("\(error)".contains("the architecture has 2 linear layers"), "\(error)")
            XCTAssertTrue("\(error)".contains("4.weight [2, 100]"), "\(error)")
        }
    }

    func test_S12_shardedCheckpointReadsLikeTheSingleFile() throws {
        let index = try FixturePaths.require("models/safetensors/sharded/model.safetensors.index.json")
        let single = try FixturePaths.require("models/safetensors/example.safetensors")
        let architecture = try Architecture(parsing: Self.exampleArchitecture)
        let sharded = try SafetensorsFormat.read(path: index, architecture: architecture)
        let reference = try SafetensorsFormat.read(path: single, architecture: architecture)
        assertSameWeights(sharded.model, as: reference.model)
        XCTAssertEqual(sharded.model.info.name, "model")
        XCTAssertEqual(sharded.model.info.metadata["total_size"], "402008")
        XCTAssertEqual(sharded.model.info.producer, "PyTorch (safetensors)")
        let folder = FixturePaths.fixture("models/safetensors/sharded/")
        let expectedSize = try MappedFile.size(of: index) + MappedFile.size(of: folder + "model-00001-of-00002.safetensors")
            + MappedFile.size(of: folder + "model-00002-of-00002.safetensors")
        XCTAssertEqual(sharded.fileSize, expectedSize)
        XCTAssertEqual(try SafetensorsFormat.readTensors(path: index).tensors.count, 6)
    }

    func test_S3_S5_S7_rulesTheReferenceAlsoAccepts() throws {
        // Zero-size and scalar tensors, leading white space and padding in the header, a null __metadata__, and
        // unknown keys in an entry: all accepted by safetensors 0.8, so by us too.
        let cases: [(String, [UInt8])] = [
            (#"{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I16","shape":[],"data_offsets":[0,2]}}"#, [1, 0]),
            (#"  {"s":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}      "#, [7, 8]),
            (#"{"__metadata__":null,"s":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2],"extra":[1,2]}}"#, [1, 0]),
            (#"{}"#, []),
        ]
        for (header, data) in cases {
            let bytes = SafetensorsBytes.file(header: header, data: data)
            let (tensors, _) = try SafetensorsFormat.readTensors(storage: TensorStorage(copying: bytes), name: "test")
            XCTAssertEqual(tensors.reduce(0) { $0 + $1.tensor.byteCount }, data.count, header)
        }
    }
}

/// Builds safetensors bytes for tests.
enum SafetensorsBytes {
    static func file(header: String, data: [UInt8], size: UInt64? = nil) -> [UInt8] {
        let text = Array(header.utf8)
        let claimed = size ?? UInt64(text.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: claimed >> (8 * $0)) } + text + data
    }
}
