import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// The legacy `torch.save` format (before torch 1.6, or `_use_new_zipfile_serialization=False`), Specs/interop/
/// pytorch.md P17: files written by torch 2.15 read to what `torch.load(weights_only=True)` returned, and a damaged
/// or hostile stream fails with one line.
final class PyTorchLegacyTests: XCTestCase {
    func test_P17_legacyFilesMatchTorch() throws {
        for name in ["legacy", "legacy_views", "legacy_dtypes"] {
            let tensors = try PyTorchFormat.readStateDict(path: try TorchFixture.model("\(name).pt"))
            TorchFixture.assertMatches(tensors, try TorchFixture.expectedTensors(name), name)
        }
        let checkpoint = try TorchFixture.model("legacy_checkpoint.pt")
        for key in ["model", "optimizer.state.0"] {
            let tensors = try PyTorchFormat.readStateDict(path: checkpoint, key: key)
            TorchFixture.assertMatches(tensors, try TorchFixture.expectedTensors("legacy_checkpoint", key: key), key)
        }
    }

    /// Storages are views of the mapped file, as in the zip format; shared storages stay shared.
    func test_P17_contiguousTensorsViewTheMappedFile() throws {
        let path = try TorchFixture.model("legacy_views.pt")
        let tensors = try PyTorchFormat.readStateDict(path: path)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
        let base = try XCTUnwrap(byName["base"]), slice = try XCTUnwrap(byName["slice"])
        XCTAssertEqual(base.storage.bytes.count, try MappedFile.size(of: path), "not a view of the file")
        XCTAssertTrue(base.storage === slice.storage)
        XCTAssertEqual(slice.byteOffset - base.byteOffset, 6 * 4)
    }

    /// The legacy file converts like any `.pt`: with `--arch` it becomes the same network as the zip fixture.
    func test_P17_legacyStateDictBindsLikeTheZipOne() throws {
        let architecture = try Architecture(parsing: "linear(5,4) relu linear(4,3)")
        let legacy = try PyTorchFormat.read(path: try TorchFixture.model("legacy.pt"), architecture: architecture)
        let zipped = try PyTorchFormat.read(path: try TorchFixture.model("sequential_f32.pt"), architecture: architecture)
        XCTAssertEqual(legacy.model.tensors.count, 4)
        for (a, b) in zip(legacy.model.tensors, zipped.model.tensors) {
            XCTAssertEqual(a.name, b.name)
            XCTAssertEqual(a.tensor.shape, b.tensor.shape, a.name)
        }
    }

    // MARK: - Damaged and hostile streams

    /// Byte offsets of the five pickles' ends and the start of the storages, found with our own unpickler.
    func layout(_ bytes: [UInt8]) throws -> [Int] {
        var ends: [Int] = []
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            for index in 0..<5 {
                let (_, _, length) = try RestrictedUnpickler.loadPrefix(UnsafeRawBufferPointer(rebasing: raw[offset...]),
                                                                        source: "test", allowsStorages: index == 3)
                offset += length
                ends.append(offset)
            }
        }
        return ends
    }

    func failure(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try FixturePaths.scratchDirectory(for: self) + "/" + name
        try FixturePaths.write(bytes, to: path)
        do {
            _ = try PyTorchFormat.readStateDict(path: path)
            XCTFail("\(name) was accepted")
            return ""
        } catch {
            let text = error.description
            XCTAssertFalse(text.contains("\n"), text)
            XCTAssertTrue(text.hasPrefix(path), text)
            return text
        }
    }

    func test_P17_truncatedAndLyingStreamsAreRefused() throws {
        let original = try FixturePaths.bytes(try TorchFixture.model("legacy.pt"))
        let ends = try layout(original)
        let dataStart = ends[4]
        // 0.weight [4, 5], 0.bias [4], 2.weight [3, 4], 2.bias [3]: four counts and 39 floats.
        XCTAssertEqual(original.count - dataStart, 4 * 8 + 39 * 4)

        XCTAssertTrue(try failure(Array(original.dropLast(10)), "cut-in-data.pt").contains("only 2 bytes remain (truncated or corrupt)"))
        XCTAssertTrue(try failure(Array(original.prefix(dataStart + 4)), "cut-in-count.pt").contains("inside the size of storage '0' (truncated)"))
        XCTAssertTrue(try failure(Array(original.prefix(ends[2] + 5)), "cut-in-object.pt").contains("truncated"))

        var lying = original
        lying.replaceSubrange(dataStart..<(dataStart + 8), with: [0, 0, 0, 0, 0, 0, 0, 0x10])   // 2^60 elements
        XCTAssertTrue(try failure(lying, "lying-count.pt").contains("storage '0' holds 1152921504606846976 elements but the pickle's reference to it says 20"))

        var short = original
        short.replaceSubrange(dataStart..<(dataStart + 8), with: [19, 0, 0, 0, 0, 0, 0, 0])      // 19 of 20 elements
        XCTAssertTrue(try failure(short, "short-count.pt").contains("storage '0' holds 19 elements but the pickle's reference to it says 20"))
    }

    /// The stream's pickles go through the restricted unpickler: a code-running object pickle after a genuine
    /// magic number, protocol and sys_info is refused at its global.
    func test_P17_hostileObjectPickleIsRefusedAtItsGlobal() throws {
        let original = try FixturePaths.bytes(try TorchFixture.model("legacy.pt"))
        let ends = try layout(original)
        let evil: [UInt8] = [0x80, 0x02] + TorchFixture.global("os", "system") + TorchFixture.unicode("echo pwned")
            + [0x85, 0x52, 0x2E]
        let text = try failure(Array(original.prefix(ends[2])) + evil, "evil.pt")
        XCTAssertTrue(text.contains("refusing global 'os.system'"), text)
    }

    func test_P17_otherDamageIsNamed() throws {
        let original = try FixturePaths.bytes(try TorchFixture.model("legacy.pt"))
        let ends = try layout(original)
        // A protocol version other than 1001.
        let wrongVersion = Array(original.prefix(ends[0])) + [0x80, 0x02, 0x4D, 0xE8, 0x03, 0x2E] + Array(original[ends[1]...])
        XCTAssertTrue(try failure(wrongVersion, "version.pt").contains("protocol version (its second pickle) is not 1001"))
        // A storage key list naming a storage no tensor uses.
        let keys: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00] + TorchFixture.unicode("ghost") + [0x61, 0x2E]
        let ghost = Array(original.prefix(ends[3])) + keys + Array(original[ends[4]...])
        XCTAssertTrue(try failure(ghost, "ghost.pt").contains("storage 'ghost' follows the pickles but no tensor refers to it"))
    }
}
