import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Writing GGUF and reading it back: exact round trips without --arch, the layout rules, and what GGUF cannot hold.
final class GGUFWriterTests: XCTestCase {
    /// The example network: write, read back with no architecture: the same model, byte for byte.
    func test_G17_exampleRoundTripIsExact() throws {
        let model = try GGUFFixtures.exampleModel()
        let path = try FixturePaths.scratchDirectory(for: self) + "/example.gguf"
        try GGUFFormat.write(model, to: path)
        let loaded = try GGUFFormat.read(path: path)
        assertGGUFRoundTrip(loaded.model, model)
        XCTAssertEqual(loaded.formatName, "GGUF")
        let header = try GGUFFormat.readHeader(path: path)
        XCTAssertEqual(header.architecture, "modelkit-dense")
        XCTAssertEqual(header.name, "example")
        XCTAssertEqual(header["general.alignment"], .uint32(32))
        XCTAssertEqual(header["modelkit.architecture"]?.stringValue, GGUFFixtures.exampleArchitecture)
        // Dense weights are [out, in] row-major, so GGUF lists them [in, out].
        XCTAssertEqual(header.tensor(named: "fc1.weight")?.dimensions, [400, 200])
        XCTAssertEqual(header.tensor(named: "fc1.bias")?.dimensions, [200])
    }

    /// The zoo: in_out weights are written transposed to [out, in] and read back as out_in with the same values;
    /// the float16 weight, every activation's attributes and the model metadata survive.
    func test_G14_zooRoundTripTransposesInOutWeights() throws {
        let model = try GGUFFixtures.zooModel()
        XCTAssertTrue(model.tensors.contains { $0.layout == .inOut }, "the zoo must exercise in_out weights")
        let bytes = try GGUFFormat.encode(model)
        let loaded = try GGUFFormat.read(storage: TensorStorage(copying: bytes), source: "zoo.gguf")
        assertGGUFRoundTrip(loaded.model, model)
        XCTAssertEqual(loaded.model.tensor(named: "fc3.weight")?.tensor.dtype, .float16)
        XCTAssertFalse(loaded.model.info.metadata.isEmpty)
    }

    /// Every writable dtype, an unreferenced tensor, a scalar and a 4-D tensor, alignment 64.
    func test_G15_allDTypesAndAlignment64RoundTrip() throws {
        var model = Model(info: ModelInfo(name: "types", producer: "test", sourceFormat: "modelkit", inputShape: [nil, 3],
                                          inputDType: .float32, metadata: ["a": "b", "ü": "✓"]))
        let weight = Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [3, 2])
        model.addTensor(ModelTensor(name: "w", tensor: try weight.converted(to: .bfloat16), layout: .inOut, layoutSource: .declared))
        model.layers = [Layer(name: "fc", kind: .dense, parameters: ["weight": "w"]),
                        Layer(name: "act", kind: .leakyRelu, attributes: JSONObject([("alpha", .double(0.2))]))]
        for dtype in [DType.float32, .float16, .float64, .int8, .int16, .int32, .int64] {
            model.addTensor(ModelTensor(name: "extra.\(dtype.rawValue)", tensor: ggufPatternTensor(dtype, [2, 1, 3, 2])))
        }
        model.addTensor(ModelTensor(name: "scalar", tensor: Tensor(float32: [7.5], shape: [])))
        let bytes = try GGUFFormat.encode(model, alignment: 64)
        let header = try GGUFFormat.readHeader(bytes: bytes)
        XCTAssertEqual(header.alignment, 64)
        XCTAssertTrue(header.tensors.allSatisfy { $0.fileOffset % 64 == 0 })
        XCTAssertEqual(bytes.count % 64, 0, "the last tensor is padded, as gguf-py pads it")
        let loaded = try GGUFFormat.read(storage: TensorStorage(copying: bytes), source: "types.gguf")
        assertGGUFRoundTrip(loaded.model, model)
    }

    /// Writing is deterministic and uses the standard layout: re-encoding gives the same bytes.
    func test_G13_encodingIsDeterministic() throws {
        let model = try GGUFFixtures.zooModel()
        XCTAssertEqual(try GGUFFormat.encode(model), try GGUFFormat.encode(model))
    }

    /// What GGUF cannot hold is refused before anything is written, and the existing file is left intact.
    func test_G16_unwritableModelsAreRefusedAndOldFileKept() throws {
        let path = try FixturePaths.scratchDirectory(for: self) + "/model.gguf"
        try FixturePaths.write([1, 2, 3], to: path)
        func model(_ tensor: Tensor, name: String = "t") -> Model {
            Model(info: ModelInfo(name: "m", producer: "p", sourceFormat: "modelkit", inputShape: [nil, 1]),
                  tensors: [ModelTensor(name: name, tensor: tensor)])
        }
        let cases: [(Model, String)] = [
            (model(Tensor.make(dtype: .uint8, shape: [2]) { _ in }), "dtype uint8 has no GGUF tensor type"),
            (model(Tensor.make(dtype: .bool, shape: [2]) { _ in }), "dtype bool has no GGUF tensor type"),
            (model(Tensor.make(dtype: .float32, shape: [1, 1, 1, 1, 2]) { _ in }), "at most 4"),
            (model(Tensor(float32: [1], shape: [1]), name: String(repeating: "n", count: 64)), "1 to 63 bytes"),
        ]
        for (bad, message) in cases {
            XCTAssertThrowsError(try GGUFFormat.write(bad, to: path)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        XCTAssertThrowsError(try GGUFFormat.encode(cases[0].0, alignment: 48)) { XCTAssertTrue("\($0)".contains("power of two"), "\($0)") }
        XCTAssertEqual(try FixturePaths.bytes(path), [1, 2, 3], "a refused write must leave the old file")
        XCTAssertThrowsError(try GGUFFormat.write(try GGUFFixtures.exampleModel(), to: "/nonexistent-dir/x.gguf")) { error in
            guard case GGUFError.fileAccess = error else { return XCTFail("\(error)") }
        }
    }

    /// A file with `modelkit.architecture` but no `modelkit.layers` (what another tool can write) binds by it.
    func test_G11_architectureKeyAloneBindsTheTensors() throws {
        let weights = GGUFBytes.floats((0..<6).map(Float.init)), bias = GGUFBytes.floats([0.5, -0.5])
        let bytes = GGUFBytes.file(
            entries: [GGUFBytes.entry("general.architecture", .string, GGUFBytes.string("mlp")),
                      GGUFBytes.entry("modelkit.architecture", .string, GGUFBytes.string("linear(3,2) sigmoid"))],
            infos: [GGUFBytes.tensorInfo("0.weight", [3, 2], .f32, offset: 0), GGUFBytes.tensorInfo("0.bias", [2], .f32, offset: 32)],
            data: weights + [UInt8](repeating: 0, count: 8) + bias)
        let loaded = try GGUFFormat.read(storage: TensorStorage(copying: bytes), source: "mlp.gguf")
        XCTAssertEqual(loaded.model.layers.map(\.kind), [.dense, .sigmoid])
        XCTAssertEqual(loaded.model.tensor(named: "0.weight")?.layout, .outIn)
        XCTAssertEqual(loaded.model.tensor(named: "0.weight")?.layoutSource, .shape)
        // An explicit architecture wins over the file's keys; a wrong one is a binding error naming the layer.
        XCTAssertThrowsError(try GGUFFormat.read(storage: TensorStorage(copying: bytes), source: "mlp.gguf",
                                                 architecture: try Architecture(parsing: "linear(2,3)"))) { error in
            guard case GGUFError.binding = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("fc1"), "\(error)")
        }
    }

    /// --weight-layout on a file with its own layers re-tags the dense weights, like the other readers.
    func test_G12_weightLayoutFlagRetagsOwnFiles() throws {
        let bytes = try GGUFFormat.encode(try GGUFFixtures.zooModel())
        let loaded = try GGUFFormat.read(storage: TensorStorage(copying: bytes), source: "zoo.gguf", weightLayout: .inOut)
        let weight = try XCTUnwrap(loaded.model.tensor(named: "fc1.weight"))
        XCTAssertEqual(weight.layout, .inOut)
        XCTAssertEqual(weight.layoutSource, .declared)
    }

    /// Wrong `modelkit.*` keys are clean errors naming the key.
    func test_G11_invalidModelKeys() throws {
        let base = [GGUFBytes.entry("general.architecture", .string, GGUFBytes.string("modelkit-dense"))]
        func layers(_ elements: [String]) -> [UInt8] {
            GGUFBytes.entry("modelkit.layers", .array, GGUFBytes.u32(GGUFValueType.string.rawValue) + GGUFBytes.u64(UInt64(elements.count))
                            + elements.flatMap { GGUFBytes.string($0) })
        }
        let cases: [([[UInt8]], String)] = [
            ([layers(["{\"name\":\"fc\",\"kind\":\"conv\"}"])], "kind 'conv'"),
            ([layers(["not json"])], "not valid JSON"),
            ([layers(["{\"name\":\"fc\",\"kind\":\"dense\",\"parameters\":{\"weight\":\"missing\"}}"])], "'missing', which the file does not have"),
            ([layers(["{\"name\":\"a\",\"kind\":\"relu\"}", "{\"name\":\"a\",\"kind\":\"relu\"}"])], "duplicate layer name 'a'"),
            ([layers([]), GGUFBytes.entry("modelkit.version", .uint32, GGUFBytes.u32(2))], "modelkit.version: is 2"),
            ([layers([]), GGUFBytes.entry("modelkit.input_dtype", .string, GGUFBytes.string("complex64"))], "'complex64' is not a ModelKit dtype"),
            ([GGUFBytes.entry("modelkit.layers", .string, GGUFBytes.string("x"))], "must be an ARRAY of STRING"),
        ]
        for (entries, message) in cases {
            let bytes = GGUFBytes.file(entries: base + entries, infos: [], data: [])
            XCTAssertThrowsError(try GGUFFormat.read(storage: TensorStorage(copying: bytes), source: "keys.gguf")) { error in
                XCTAssertTrue("\(error)".contains(message), "expected '\(message)' in: \(error)")
            }
        }
    }
}

/// The GGUF files ModelKit exported, committed so that gguf_fixtures.py can check them with gguf.GGUFReader.
final class GGUFExportFixtureTests: XCTestCase {
    /// The committed `modelkit_*.gguf` are what the writer produces today (gguf-py verified those exact bytes:
    /// expected/gguf/modelkit_export_check.json). `MODELKIT_WRITE_GGUF_FIXTURES=1` rewrites them instead.
    func test_G13_committedExportsMatchTheWriter() throws {
        let exports = [("modelkit_example.gguf", try GGUFFixtures.exampleModel()), ("modelkit_zoo.gguf", try GGUFFixtures.zooModel())]
        if ProcessInfo.processInfo.environment["MODELKIT_WRITE_GGUF_FIXTURES"] == "1" {
            for (name, model) in exports { try GGUFFormat.write(model, to: FixturePaths.fixture("models/gguf/" + name)) }
            return
        }
        let check = try GGUFFixtures.json(try GGUFFixtures.expected("modelkit_export_check.json"))
        for (name, model) in exports {
            let committed = try FixturePaths.bytes(try GGUFFixtures.model(name))
            XCTAssertEqual(committed, try GGUFFormat.encode(model), "\(name): the writer's output changed; rewrite the fixture and rerun gguf_fixtures.py")
            XCTAssertEqual(check[name]?["sha256"]?.stringValue, ggufSHA256Hex(committed), "\(name) is not the file gguf-py checked")
            XCTAssertTrue(check[name]?["tensors"]?.arrayValue?.allSatisfy { $0["equal_to_reference"]?.boolValue == true } ?? false)
        }
    }
}

/// Fails unless `actual` (read back from GGUF) is `expected`: same info, layers, tensor names and order, dtypes,
/// layout sources, and values, with in_out weights now stored out_in (transposed).
func assertGGUFRoundTrip(_ actual: Model, _ expected: Model, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.info, expected.info, "info", file: file, line: line)
    XCTAssertEqual(actual.layers, expected.layers, "layers", file: file, line: line)
    XCTAssertEqual(actual.tensors.map(\.name), expected.tensors.map(\.name), "tensor names", file: file, line: line)
    for (got, want) in zip(actual.tensors, expected.tensors) {
        XCTAssertEqual(got.tensor.dtype, want.tensor.dtype, "\(want.name) dtype", file: file, line: line)
        XCTAssertEqual(got.layoutSource, want.layoutSource, "\(want.name) layout source", file: file, line: line)
        var reference = want.tensor
        if let layout = want.layout {
            XCTAssertEqual(got.layout, .outIn, "\(want.name) is written [out, in]", file: file, line: line)
            if layout == .inOut, let transposed = try? reference.transposed2D() { reference = transposed }
        } else {
            XCTAssertNil(got.layout, "\(want.name) layout", file: file, line: line)
        }
        XCTAssertTrue(got.tensor.hasSameContents(as: reference), "\(want.name) values", file: file, line: line)
    }
}

/// A tensor of `dtype` and `shape` with a varied, exactly representable pattern.
func ggufPatternTensor(_ dtype: DType, _ shape: Shape) -> Tensor {
    let count = shape.elementCount ?? 0
    let values = Tensor(float32: (0..<count).map { Float($0 % 13) * 1.5 - 9 }, shape: shape)
    switch dtype {
    case .float32, .float16, .bfloat16, .float64:
        return (try? values.converted(to: dtype)) ?? values
    default:
        return Tensor.make(dtype: dtype, shape: shape) { raw in
            for index in 0..<count {
                let value = Int64(index * 37 % 200) - 100
                switch dtype {
                case .int8: raw[index] = UInt8(bitPattern: Int8(value))
                case .int16: raw.storeBytes(of: Int16(value * 300).littleEndian, toByteOffset: 2 * index, as: Int16.self)
                case .int32: raw.storeBytes(of: Int32(value * 20_000_000).littleEndian, toByteOffset: 4 * index, as: Int32.self)
                case .int64: raw.storeBytes(of: (value << 50).littleEndian, toByteOffset: 8 * index, as: Int64.self)
                default: raw[index] = UInt8(truncatingIfNeeded: value)
                }
            }
        }
    }
}
