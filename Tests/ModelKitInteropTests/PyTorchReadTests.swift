import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Every valid fixture written by torch 2.15 reads to the tensors torch.load(weights_only=True) returned.
final class PyTorchReadTests: XCTestCase {
    func test_P8_stateDictsInEachDTypeMatchTorch() throws {
        for name in ["sequential_f32", "sequential_f16", "sequential_bf16", "protocol4", "archive_prefix", "parameters", "dtypes"] {
            let tensors = try PyTorchFormat.readStateDict(path: try TorchFixture.model("\(name).pt"))
            TorchFixture.assertMatches(tensors, try TorchFixture.expectedTensors(name), name)
        }
    }

    func test_P8_exampleStateDictMatchesTorchAndTheJSONModel() throws {
        let tensors = try PyTorchFormat.readStateDict(path: try TorchFixture.model("example_state_dict.pt"))
        TorchFixture.assertMatches(tensors, try TorchFixture.expectedTensors("example_state_dict"), "example_state_dict")
        // The same weights as the torch-written JSON model, bit for bit.
        let reference = try ModelJSONForm.read(path: try FixturePaths.require("models/example/example.json")).model
        for (index, tensor) in tensors.enumerated() {
            let name = "fc\(index / 2 + 1).\(index.isMultiple(of: 2) ? "weight" : "bias")"
            XCTAssertTrue(tensor.tensor.hasSameContents(as: try XCTUnwrap(reference.tensor(named: name)).tensor), name)
        }
    }

    func test_P9_contiguousTensorsViewTheMappedFileWithoutACopy() throws {
        let path = try TorchFixture.model("example_state_dict.pt")
        let tensors = try PyTorchFormat.readStateDict(path: path)
        let storages = Set(tensors.map { ObjectIdentifier($0.tensor.storage) })
        XCTAssertEqual(storages.count, 1, "every tensor should view the one mapped file")
        let fileSize = try MappedFile.size(of: path)
        for tensor in tensors {
            XCTAssertEqual(tensor.tensor.storage.bytes.count, fileSize)
            XCTAssertEqual(tensor.tensor.byteOffset % 64, 0, "\(tensor.name): torch aligns storages to 64 bytes")
        }
    }

    func test_P9_viewsStridesAndSharedStorages() throws {
        let tensors = try PyTorchFormat.readStateDict(path: try TorchFixture.model("views.pt"))
        TorchFixture.assertMatches(tensors, try TorchFixture.expectedTensors("views"), "views")
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
        let base = try XCTUnwrap(byName["base"]), slice = try XCTUnwrap(byName["slice"])
        // A contiguous slice is the same storage at an offset (6 elements in); strided views are copies.
        XCTAssertTrue(base.storage === slice.storage)
        XCTAssertEqual(slice.byteOffset - base.byteOffset, 6 * 4)
        XCTAssertFalse(try XCTUnwrap(byName["transposed"]).storage === base.storage)
        XCTAssertEqual(try XCTUnwrap(byName["broadcast"]).floatValues(), [1, -2, 3, -4, 1, -2, 3, -4, 1, -2, 3, -4])
        XCTAssertEqual(try XCTUnwrap(byName["scalar"]).shape, [])
        XCTAssertEqual(try XCTUnwrap(byName["empty"]).shape, [0, 3])
    }

    func test_P10_bigEndianArchiveIsByteSwapped() throws {
        let tensors = try PyTorchFormat.readStateDict(path: try TorchFixture.model("big_endian.pt"))
        TorchFixture.assertMatches(tensors, try TorchFixture.expectedTensors("big_endian"), "big_endian")
        let loaded = try PyTorchFormat.loadStateDict(path: try TorchFixture.model("big_endian.pt"), key: nil)
        XCTAssertTrue(loaded.notes.contains { $0.contains("big-endian") }, "\(loaded.notes)")
    }

    func test_P11_checkpointKeysAndNavigation() throws {
        let path = try TorchFixture.model("checkpoint.pt")
        let listing = try PyTorchFormat.listKeys(path: path)
        XCTAssertEqual(listing.map(\.key), ["model", "optimizer", "epoch", "loss"])
        let expectedTypes = try XCTUnwrap(TorchFixture.expected("checkpoint")["top_level"]?.arrayValue).compactMap { $0["type"]?.stringValue }
        XCTAssertEqual(expectedTypes, ["tensor dict", "dict", "integer", "float"])
        XCTAssertEqual(listing[0].summary, "state dict: 4 tensors (float32), 39 values")
        XCTAssertEqual(listing[1].summary, "dict of 2 entries ('state', 'param_groups')")
        XCTAssertEqual(listing[2].summary, "integer 3")
        XCTAssertEqual(listing[3].summary, "float 0.25")

        let model = try PyTorchFormat.readStateDict(path: path, key: "model")
        TorchFixture.assertMatches(model, try TorchFixture.expectedTensors("checkpoint", key: "model"), "checkpoint model")
        // A dotted path through dicts with string and integer keys (Adam's state is keyed by parameter index).
        let adam = try PyTorchFormat.readStateDict(path: path, key: "optimizer.state.0")
        TorchFixture.assertMatches(adam, try TorchFixture.expectedTensors("checkpoint", key: "optimizer.state.0"), "adam state 0")
        XCTAssertEqual(adam.map(\.name), ["step", "exp_avg", "exp_avg_sq"])

        // Without a key, the only dict of tensors at the top level is taken, and the report says so.
        let automatic = try PyTorchFormat.readStateDict(path: path)
        XCTAssertEqual(automatic.map(\.name), model.map(\.name))
        let loaded = try PyTorchFormat.read(path: path, architecture: try Architecture(parsing: "linear(5,4) relu linear(4,3)"))
        XCTAssertTrue(loaded.notes.contains { $0.contains("under key 'model'") }, "\(loaded.notes)")
    }

    func test_P11_keyPathErrorsNameTheKeyAndWhatIsThere() throws {
        let path = try TorchFixture.model("checkpoint.pt")
        let missing = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "modle") }
        XCTAssertEqual(missing?.description, "\(path): no entry 'modle'; the keys there are: 'model', 'optimizer', 'epoch', 'loss'")
        let deeper = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "optimizer.state.7") }
        XCTAssertTrue(deeper?.description.contains("no entry 'optimizer.state.7'; the keys there are: '0', '1', '2', '3'") == true,
                      deeper?.description ?? "")
        let scalar = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "epoch") }
        XCTAssertTrue(scalar?.description.contains("(key 'epoch'): not a state dict: it holds an integer 3") == true,
                      scalar?.description ?? "")
        let notTensors = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "optimizer") }
        XCTAssertTrue(notTensors?.description.contains("entry 'state' is a dict of 4 entries") == true, notTensors?.description ?? "")
        let through = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "epoch.x") }
        XCTAssertTrue(through?.description.contains("'epoch' is an integer 3, which has no entries") == true, through?.description ?? "")
    }

    func test_P11_listKeysOfAStateDictListsItsTensors() throws {
        let listing = try PyTorchFormat.listKeys(path: try TorchFixture.model("sequential_f16.pt"))
        XCTAssertEqual(listing.map(\.key), ["0.weight", "0.bias", "2.weight", "2.bias"])
        XCTAssertEqual(listing[0].summary, "tensor float16 [4, 5]")
    }

    func test_P12_readBindsToAnArchitecture() throws {
        let path = try TorchFixture.model("example_state_dict.pt")
        let architecture = try Architecture(parsing: "linear(400,200) relu linear(200,100) relu linear(100,2) softmax")
        let loaded = try PyTorchFormat.read(path: path, architecture: architecture)
        XCTAssertEqual(loaded.formatName, PyTorchFormat.formatName)
        XCTAssertEqual(loaded.formatVersion, "3")
        XCTAssertEqual(loaded.model.layers.map(\.kind), [.dense, .relu, .dense, .relu, .dense, .softmax])
        XCTAssertEqual(loaded.model.info.sourceFormat, "pytorch")
        XCTAssertEqual(loaded.model.info.name, "example_state_dict")
        XCTAssertEqual(loaded.model.tensor(named: "0.weight")?.layout, .outIn)
        XCTAssertEqual(loaded.tensorChecksums["0.weight"], .ok)
        XCTAssertTrue(loaded.model.analyze().issues.isEmpty, "\(loaded.model.analyze().issues)")

        let wrong = TorchFixture.error {
            _ = try PyTorchFormat.read(path: path, architecture: try Architecture(parsing: "linear(400,200) relu linear(200,2)"))
        }
        XCTAssertTrue(wrong?.description.hasPrefix("\(path): the architecture has 2 linear layers") == true, wrong?.description ?? "")

        let missing = TorchFixture.error { _ = try PyTorchFormat.read(path: path) }
        guard case .missingArchitecture? = missing else { return XCTFail("\(String(describing: missing))") }
        XCTAssertEqual(missing?.kind, .invalidRequest)
        XCTAssertTrue(missing?.description.contains("e.g. --arch \"linear(400,200) relu linear(200,100) relu linear(100,2)\"") == true,
                      missing?.description ?? "")
    }

    func test_P2_recognizesTorchArchivesOnly() throws {
        XCTAssertTrue(PyTorchFormat.recognizes(path: try TorchFixture.model("sequential_f32.pt")))
        XCTAssertTrue(PyTorchFormat.recognizes(path: try TorchFixture.model("torchscript.pt")))
        XCTAssertFalse(PyTorchFormat.recognizes(path: try FixturePaths.require("models/numpy/stored.npz")))
        XCTAssertFalse(PyTorchFormat.recognizes(path: try TorchFixture.model("legacy.pt")))
        XCTAssertFalse(PyTorchFormat.recognizes(path: "/nonexistent/file.pt"))
    }
}
