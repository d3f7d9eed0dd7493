import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Checkpoints torch wrote with more than a state dict in them: a scheduler (`collections.Counter`), a
/// `torch.device`, `bytearray`, `complex`, sets and parameters (P6), the opcodes torch reads but `torch.save` does
/// not write (P4), several state dicts, dotted keys and a top-level list (P11), and a bad embedded architecture (P12).
/// Expected values are what `torch.load(weights_only=True)` returned (Fixtures/expected/torch).
final class PyTorchCheckpointTests: XCTestCase {
    func test_P6_schedulerCheckpointLoadsWithKeyModel() throws {
        let path = try TorchFixture.model("checkpoint_scheduler.pt")
        let expected = try TorchFixture.expected("checkpoint_scheduler")
        let model = try PyTorchFormat.readStateDict(path: path, key: "model")
        TorchFixture.assertMatches(model, try TorchFixture.expectedTensors("checkpoint_scheduler", key: "model"), "model")
        // Without --key, 'model' is the only dict of tensors at the top level.
        let loaded = try PyTorchFormat.loadStateDict(path: path, key: nil)
        XCTAssertEqual(loaded.tensors.map(\.name), model.map(\.name))
        XCTAssertTrue(loaded.notes.contains { $0.contains("under key 'model'") }, "\(loaded.notes)")
        let network = try PyTorchFormat.read(path: path, key: "model", architecture: try Architecture(parsing: "linear(5,4) relu linear(4,3)"))
        XCTAssertEqual(network.model.layers.map(\.kind), [.dense, .relu, .dense])

        let listing = try PyTorchFormat.listKeys(path: path)
        XCTAssertEqual(listing.map(\.key), try XCTUnwrap(expected["top_level"]?.arrayValue).compactMap { $0["key"]?.stringValue })
        let summaries = Dictionary(uniqueKeysWithValues: listing.map { ($0.key, $0.summary) })
        XCTAssertEqual(summaries["model"], "state dict: 4 tensors (float32), 39 values")
        XCTAssertEqual(summaries["optimizer"], "dict of 2 entries ('state', 'param_groups')")
        XCTAssertEqual(summaries["scheduler"]?.hasPrefix("dict of 8 entries ('milestones', 'gamma', 'base_lrs'"), true, summaries["scheduler"] ?? "")
        XCTAssertEqual(summaries["epoch"], "integer 3")
        XCTAssertEqual(summaries["device"], "torch.device \(try XCTUnwrap(expected["device"]?.stringValue))")
        XCTAssertEqual(summaries["extras"], "dict of 4 entries ('tag', 'phase', 'seen', 'scale')")
    }

    /// Each allowed value reads to what torch returned: nothing is called to make it.
    func test_P6_schedulerDeviceBytearrayComplexSetAndParameterMatchTorch() throws {
        let path = try TorchFixture.model("checkpoint_scheduler.pt")
        let expected = try TorchFixture.expected("checkpoint_scheduler")
        let archive = try TorchArchive.open(path)
        func value(_ key: String) throws -> PickleValue {
            try TorchStateDict.navigate(archive.root, path: key, heap: archive.heap, file: path).0
        }
        let heap = archive.heap

        guard case .dict(let milestones) = try value("scheduler.milestones") else { return XCTFail("milestones") }
        XCTAssertEqual(expected["scheduler"]?["milestones_type"]?.stringValue, "Counter")
        XCTAssertTrue(heap.dicts[milestones].isCounter)
        let counts = try XCTUnwrap(expected["scheduler"]?["milestones"]?.objectValue)
        XCTAssertEqual(heap.dicts[milestones].keys, counts.keys.compactMap { Int64($0) }.map(PickleValue.int))
        XCTAssertEqual(heap.dicts[milestones].values, counts.keys.compactMap { counts[$0]?.intValue }.map { PickleValue.int(Int64($0)) })
        XCTAssertEqual(try value("scheduler.last_epoch"), .int(Int64(try XCTUnwrap(expected["scheduler"]?["last_epoch"]?.intValue))))

        guard case .object(let device) = try value("device") else { return XCTFail("device") }
        XCTAssertEqual(heap.objects[device], PickleObject(typeName: "torch.device", text: try XCTUnwrap(expected["device"]?.stringValue)))

        let extras = try XCTUnwrap(expected["extras"])
        XCTAssertEqual(extras["tag_type"]?.stringValue, "bytearray")
        XCTAssertEqual(try value("extras.tag"), .bytes(try XCTUnwrap(extras["tag"]?.arrayValue).compactMap(\.intValue).map(UInt8.init)))
        guard case .object(let phase) = try value("extras.phase") else { return XCTFail("phase") }
        let parts = try XCTUnwrap(extras["phase"]?.arrayValue).compactMap(\.doubleValue)
        XCTAssertEqual(parts, [1.5, -2.0])
        XCTAssertEqual(heap.objects[phase], PickleObject(typeName: "complex", text: "(1.5-2.0j)"))
        guard case .set(let seen) = try value("extras.seen") else { return XCTFail("seen") }
        XCTAssertEqual(heap.sets[seen].sorted { "\($0)" < "\($1)" },
                       try XCTUnwrap(extras["seen"]?.arrayValue).compactMap(\.intValue).map { PickleValue.int(Int64($0)) })
        XCTAssertEqual(extras["scale_type"]?.stringValue, "Parameter")
        guard case .tensor(let scale) = try value("extras.scale") else { return XCTFail("scale") }
        var reader = TorchTensorReader(archive: archive)
        TorchFixture.assertMatches(try reader.tensor(heap.tensors[scale], name: "scale"), try XCTUnwrap(extras["scale"]), "extras.scale")

        // A dict that is not all tensors says which entry is not.
        let error = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "extras") }
        XCTAssertTrue(error?.description.contains("entry 'tag' is a bytes (6), not a tensor") == true, error?.description ?? "")
        let counter = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "scheduler.milestones") }
        XCTAssertTrue(counter?.description.contains("(key 'scheduler.milestones'): not a state dict: entry '2' is an integer 1, not a tensor") == true,
                      counter?.description ?? "")
    }

    /// NEWOBJ (OrderedDict, nn.Parameter), SHORT_BINSTRING keys and EMPTY_SET, in a pickle torch reads.
    func test_P4_opcodesTorchReadsButDoesNotWrite() throws {
        let path = try TorchFixture.model("opcodes.pt")
        let expected = try TorchFixture.expected("opcodes")
        TorchFixture.assertMatches(try PyTorchFormat.readStateDict(path: path), try TorchFixture.expectedTensors("opcodes"), "opcodes")
        XCTAssertEqual(expected["types"]?["0.weight"]?.stringValue, "Parameter")
        let archive = try TorchArchive.open(path)
        guard case .dict(let root) = archive.root, case .dict(let state)? = archive.heap.dicts[root].attributes,
              case .set(let seen)? = archive.heap.dicts[state].value(for: .string("_seen")) else {
            return XCTFail("no _seen attribute")
        }
        XCTAssertTrue(archive.heap.dicts[root].isOrdered)
        XCTAssertEqual(archive.heap.sets[seen], [], "EMPTY_SET, as torch read it: \(String(describing: expected["attributes"]))")
    }

    // MARK: - P11 keys

    func test_P11_severalStateDictsWithoutKeyListTheKeys() throws {
        let path = try TorchFixture.model("several_state_dicts.pt")
        let error = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path) }
        guard case .notAStateDict? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(error?.description, "\(path): not a state dict: the top level is a dict holding 'model' (state dict: 4 tensors "
                       + "(float32), 39 values), 'ema' (state dict: 4 tensors (float16), 39 values), 'module.encoder' (state dict: "
                       + "1 tensor (float32), 4 values), 'module' (dict of 1 entry ('encoder')); choose the state dict with --key")
        TorchFixture.assertMatches(try PyTorchFormat.readStateDict(path: path, key: "ema"),
                                   try TorchFixture.expectedTensors("several_state_dicts", key: "ema"), "ema")
    }

    func test_P11_aDottedKeyThatExistsLiterallyWins() throws {
        let path = try TorchFixture.model("several_state_dicts.pt")
        // 'module.encoder' is a key of its own and also module -> encoder: the literal key is taken.
        TorchFixture.assertMatches(try PyTorchFormat.readStateDict(path: path, key: "module.encoder"),
                                   try TorchFixture.expectedTensors("several_state_dicts", key: "module.encoder"), "literal")
        // What module -> encoder holds is different, so the test tells the two apart.
        XCTAssertEqual(try TorchFixture.expectedTensors("several_state_dicts", key: "module>encoder").first?["shape"]?.arrayValue?.compactMap(\.intValue), [1, 1])
        XCTAssertEqual(try PyTorchFormat.readStateDict(path: path, key: "module.encoder").first?.tensor.shape.dimensions, [2, 2])
    }

    func test_P11_topLevelListIsListedByIndexAndNavigated() throws {
        let path = try TorchFixture.model("list_top_level.pt")
        let listing = try PyTorchFormat.listKeys(path: path)
        XCTAssertEqual(listing.map(\.key), try XCTUnwrap(TorchFixture.expected("list_top_level")["top_level"]?.arrayValue).compactMap { $0["key"]?.stringValue })
        XCTAssertEqual(listing.map(\.summary), ["state dict: 4 tensors (float32), 39 values", "dict of 1 entry ('epoch')"])
        TorchFixture.assertMatches(try PyTorchFormat.readStateDict(path: path, key: "0"),
                                   try TorchFixture.expectedTensors("list_top_level", key: "0"), "list item 0")
        let error = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path) }
        XCTAssertTrue(error?.description.contains("it holds a list of 2 items, not a dict of tensors") == true, error?.description ?? "")
        let outside = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path, key: "2") }
        XCTAssertTrue(outside?.description.contains("no entry '2'; the keys there are: '0', '1'") == true, outside?.description ?? "")
    }

    // MARK: - P12

    func test_P12_anInvalidEmbeddedArchitectureIsAnErrorNamingIt() throws {
        let path = try TorchFixture.malformed("bad_architecture.pt")
        // The tensors read; only binding needs the architecture.
        XCTAssertEqual(try PyTorchFormat.readStateDict(path: path).map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias"])
        let error = TorchFixture.error { _ = try PyTorchFormat.read(path: path) }
        guard case .architecture? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(error?.description.contains("(_metadata['modelkit'])") == true, error?.description ?? "")
        XCTAssertEqual(error?.kind, .invalidRequest)
        // An explicit architecture is used instead, and the file reads.
        let loaded = try PyTorchFormat.read(path: path, architecture: try Architecture(parsing: "linear(5,4) relu linear(4,3)"))
        XCTAssertEqual(loaded.model.layers.count, 3)
    }
}
