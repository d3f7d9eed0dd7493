import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Writing safetensors: byte-identical to the reference writer, PyTorch names and layout, metadata that makes our
/// own files readable without `--arch`.
final class SafetensorsWriterTests: XCTestCase {
    func test_W1_writerReproducesTheReferenceBytes() throws {
        // Files written by safetensors 0.8 (all dtypes, with metadata) and by torch (no metadata): reading their
        // tensors and writing them again must give the same bytes.
        let folder = try FixturePaths.scratchDirectory(for: self)
        for (fixture, metadata) in [("models/safetensors/all_dtypes.safetensors", ["format": "pt"]),
                                    ("models/safetensors/example.safetensors", [:]),
                                    ("models/safetensors/sharded/model-00002-of-00002.safetensors", ["format": "pt"])] {
            let path = try FixturePaths.require(fixture)
            var (tensors, read) = try SafetensorsFormat.readTensors(path: path)
            XCTAssertEqual(read, metadata, fixture)
            tensors.reverse()  // the writer orders them itself
            let output = folder + "/copy.safetensors"
            try SafetensorsFormat.writeTensors(tensors, metadata: metadata, to: output)
            XCTAssertEqual(try FixturePaths.bytes(output), try FixturePaths.bytes(path), fixture)
        }
    }

    func test_W1_headerIsPaddedWithSpacesAndDataIsAligned() throws {
        let folder = try FixturePaths.scratchDirectory(for: self)
        for length in 1...9 {
            let name = String(repeating: "n", count: length)
            let tensors = [ModelTensor(name: name, tensor: Tensor(float32: [1, 2], shape: [2])),
                           ModelTensor(name: "b", tensor: Tensor.make(dtype: .float64, shape: [1]) { _ in }),
                           ModelTensor(name: "c", tensor: Tensor.make(dtype: .uint8, shape: [3]) { _ in })]
            let path = folder + "/\(length).safetensors"
            try SafetensorsFormat.writeTensors(tensors, metadata: [:], to: path)
            let bytes = try FixturePaths.bytes(path)
            let headerSize = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual(headerSize % 8, 0)
            let header = String(decoding: bytes[8..<(8 + headerSize)], as: UTF8.self)
            XCTAssertTrue(header.hasPrefix(#"{"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"# + "\"\(name)\""), header)
            let padding = header.reversed().prefix { $0 == " " }.count
            XCTAssertLessThan(padding, 8)
            XCTAssertTrue(header.dropLast(padding).hasSuffix("]}}"), header)
            let (read, _) = try SafetensorsFormat.readTensors(path: path)
            XCTAssertEqual(read.map(\.name), ["b", name, "c"])
            XCTAssertEqual(read[1].tensor.floatValues(), [1, 2])
        }
    }

    func test_W2_W3_W4_modelIsWrittenAsAPyTorchStateDict() throws {
        let model = SampleModels.dense([5, 4, 4, 3], layout: .inOut)
        let path = try FixturePaths.scratchDirectory(for: self) + "/model.safetensors"
        try SafetensorsFormat.write(model, to: path)
        let (tensors, metadata) = try SafetensorsFormat.readTensors(path: path)
        XCTAssertEqual(tensors.map(\.name), ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"])
        XCTAssertEqual(metadata["format"], "pt")
        XCTAssertEqual(metadata["modelkit.layout"], "out_in")
        XCTAssertEqual(metadata["modelkit.architecture"], try Architecture(model: model).jsonText)
        for (index, layer) in model.layers.filter({ $0.kind == .dense }).enumerated() {
            let weight = try XCTUnwrap(model.parameter("weight", of: layer)).tensor
            let written = try XCTUnwrap(tensors.first { $0.name == "\(2 * index).weight" }).tensor
            XCTAssertEqual(written.shape, weight.shape.transposed, "in_out weights are written [out, in]")
            let (rows, columns) = (weight.shape.dimensions[0], weight.shape.dimensions[1])
            for row in 0..<rows {
                for column in 0..<columns {
                    XCTAssertEqual(written.element(at: column * rows + row), weight.element(at: row * columns + column))
                }
            }
            let bias = try XCTUnwrap(model.parameter("bias", of: layer)).tensor
            XCTAssertTrue(try XCTUnwrap(tensors.first { $0.name == "\(2 * index).bias" }).tensor.hasSameContents(as: bias))
        }
    }

    func test_W4_ownFilesReadBackWithoutArchitecture() throws {
        let folder = try FixturePaths.scratchDirectory(for: self)
        for fixture in ["models/example/zoo.json", "models/example/example.json"] {
            let original = try ModelJSONForm.read(path: try FixturePaths.require(fixture)).model
            let path = folder + "/model.safetensors"
            try SafetensorsFormat.write(original, to: path)
            let loaded = try SafetensorsFormat.read(path: path)
            XCTAssertEqual(try Architecture(model: loaded.model), try Architecture(model: original), fixture)
            XCTAssertTrue(loaded.notes.contains { $0.hasPrefix("architecture from the file's modelkit.architecture metadata") })
            XCTAssertEqual(loaded.model.info.producer, "modelkit (safetensors export)")
            XCTAssertNil(loaded.model.info.metadata["modelkit.architecture"])
            let originalDense = original.layers.filter { $0.kind == .dense }
            for (ours, theirs) in zip(loaded.model.layers.filter { $0.kind == .dense }, originalDense) {
                let weight = try XCTUnwrap(loaded.model.parameter("weight", of: ours))
                let reference = try XCTUnwrap(original.parameter("weight", of: theirs))
                XCTAssertEqual(weight.layout, .outIn)
                XCTAssertEqual(weight.layoutSource, .declared)
                XCTAssertEqual(weight.tensor.dtype, reference.tensor.dtype)
                let expected = reference.layout == .inOut ? try reference.tensor.transposed2D() : reference.tensor
                XCTAssertTrue(weight.tensor.hasSameContents(as: expected), "\(fixture) \(theirs.name)")
                XCTAssertTrue(try XCTUnwrap(loaded.model.parameter("bias", of: ours)).tensor
                    .hasSameContents(as: try XCTUnwrap(original.parameter("bias", of: theirs)).tensor))
            }
            XCTAssertEqual(loaded.model.layers.filter { $0.kind != .dense }.map(\.attributes),
                           original.layers.filter { $0.kind != .dense }.map(\.attributes), fixture)
        }
    }

    func test_W2_tenOrMoreModulesReadBackInLayerOrder() throws {
        // Indices 0…10: "10.weight" sorts before "2.weight" in the file; reading must restore the layer order.
        let model = SampleModels.dense([9, 8, 7, 6, 5, 4, 3], layout: .outIn)
        let path = try FixturePaths.scratchDirectory(for: self) + "/deep.safetensors"
        try SafetensorsFormat.write(model, to: path)
        let (tensors, _) = try SafetensorsFormat.readTensors(path: path)
        XCTAssertEqual(tensors.prefix(4).map(\.name), ["0.bias", "0.weight", "10.bias", "10.weight"])
        let loaded = try SafetensorsFormat.read(path: path)
        for (ours, theirs) in zip(loaded.model.layers, model.layers) {
            XCTAssertEqual(ours.kind, theirs.kind)
            guard let weight = loaded.model.parameter("weight", of: ours), let reference = model.parameter("weight", of: theirs) else { continue }
            XCTAssertTrue(weight.tensor.hasSameContents(as: reference.tensor), ours.name)
        }
    }

    func test_W5_refusedWritesLeaveTheOldFile() throws {
        let folder = try FixturePaths.scratchDirectory(for: self)
        let path = folder + "/keep.safetensors"
        try FixturePaths.write(Array("previous".utf8), to: path)
        let tensor = Tensor(float32: [1], shape: [1])
        XCTAssertThrowsError(try SafetensorsFormat.writeTensors([ModelTensor(name: "a", tensor: tensor), ModelTensor(name: "a", tensor: tensor)],
                                                                metadata: [:], to: path)) { error in
            XCTAssertEqual("\(error)", "\(path): cannot write safetensors: two tensors are named 'a'")
        }
        XCTAssertThrowsError(try SafetensorsFormat.writeTensors([ModelTensor(name: "__metadata__", tensor: tensor)], metadata: [:], to: path))
        var leading = SampleModels.dense([3, 2])
        leading.layers.insert(Layer(name: "pre", kind: .relu), at: 0)
        XCTAssertThrowsError(try SafetensorsFormat.write(leading, to: path)) { error in
            XCTAssertTrue("\(error)".contains("relu comes before the first dense layer"), "\(error)")
        }
        XCTAssertEqual(try FixturePaths.bytes(path), Array("previous".utf8), "a refused write leaves the old file")
        XCTAssertThrowsError(try SafetensorsFormat.write(SampleModels.dense([3, 2]), to: folder + "/missing/dir/x.safetensors"))
        try SafetensorsFormat.write(SampleModels.dense([3, 2]), to: path)
        XCTAssertEqual(try SafetensorsFormat.readTensors(path: path).tensors.count, 2, "a successful write replaces the file")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "no temporary files are left behind")
    }
}
