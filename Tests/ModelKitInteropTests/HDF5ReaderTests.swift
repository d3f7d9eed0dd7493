import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// ModelKit's own HDF5 reader (K23): the layouts h5py writes read alike, and every damaged structure a fuzzer or
/// an attacker can make (global heap walks that never end or leave their collection, string references to objects
/// that do not exist, header chunks larger than the file) is one clean error. All three libhdf5 failures
/// `fuzz-keras` found (a hang, a wild read, a use after free) came from files like these.
final class HDF5ReaderTests: XCTestCase {
    private func leakyH5() throws -> [UInt8] { try FixturePaths.bytes(try KerasFixture.model("leaky.h5")) }

    /// The offset of the first collection and of its free-space object (index 0), as Keras's h5py wrote them.
    private func freeSpaceObject(in bytes: [UInt8]) throws -> (collection: Int, object: Int) {
        let collection = try XCTUnwrap(bytes.indices.first { bytes[$0...].starts(with: Array("GCOL".utf8)) })
        let size = bytes[(collection + 8)..<(collection + 16)].reversed().reduce(0) { $0 << 8 | Int($1) }
        var position = collection + 16
        while position + 16 <= collection + size {
            let index = Int(bytes[position]) | Int(bytes[position + 1]) << 8
            if index == 0 { return (collection, position) }
            let objectSize = bytes[(position + 8)..<(position + 16)].reversed().reduce(0) { $0 << 8 | Int($1) }
            position += 16 + (objectSize + 7) / 8 * 8
        }
        throw XCTSkip("leaky.h5 has no free-space object")
    }

    private func settingLength(_ value: UInt64, at offset: Int, in bytes: [UInt8]) -> [UInt8] {
        var patched = bytes
        for index in 0..<8 { patched[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        return patched
    }

    /// A collection as the reader parses it, or its error.
    private func collection(_ bytes: [UInt8], at offset: Int) -> Result<HDF5GlobalHeapCollection, KerasError> {
        bytes.withUnsafeBytes { raw in
            Result { () throws(KerasError) -> HDF5GlobalHeapCollection in
                let image = try HDF5Image(bytes: raw, label: "test.h5")
                return try HDF5GlobalHeapCollection(at: offset, in: image, object: "/")
            }
        }
    }

    private func message(_ result: Result<HDF5GlobalHeapCollection, KerasError>) -> String {
        if case .failure(let error) = result { return error.description }
        XCTFail("the collection was accepted")
        return ""
    }

    // MARK: - Layouts

    /// h5py's libver='latest' layouts (superblock 3, 'OHDR' headers, link messages, attribute messages version 3,
    /// with and without creation order) hold the same model as Keras's own leaky.h5.
    func test_K23_latestFormatLayoutsReadLikeTheDefault() throws {
        let reference = try KerasFormat.read(path: try KerasFixture.model("leaky.h5"))
        for name in ["leaky_libver_latest.h5", "leaky_track_order.h5"] {
            let path = try FixturePaths.require("models/keras/variants/" + name)
            XCTAssertEqual(try FixturePaths.bytes(path)[8], 3, "\(name) should have a version 3 superblock")
            let model = try KerasFormat.read(path: path)
            XCTAssertEqual(model.layers, reference.layers, name)
            XCTAssertEqual(model.tensors.map(\.name), reference.tensors.map(\.name), name)
            for (read, expected) in zip(model.tensors, reference.tensors) {
                XCTAssertEqual(read.tensor.floatValues(), expected.tensor.floatValues(), "\(name): \(read.name)")
            }
        }
    }

    /// K11: weights stored as big-endian float32 (layer a), float64 (b) and float16 (c) read as those values in
    /// float32: a and b exactly Keras's, c Keras's rounded to float16.
    func test_K11_bigEndianFloat64AndFloat16WeightsAreConverted() throws {
        let reference = try KerasFormat.read(path: try KerasFixture.model("leaky.h5"))
        let model = try KerasFormat.read(path: try FixturePaths.require("models/keras/variants/leaky_dtypes.h5"))
        XCTAssertEqual(model.tensors.map(\.name), reference.tensors.map(\.name))
        for (read, expected) in zip(model.tensors, reference.tensors) {
            var values = expected.tensor.floatValues()
            if read.name.hasPrefix("c") { values = values.map { Float(Float16($0)) } }
            XCTAssertEqual(read.tensor.floatValues(), values, read.name)
            XCTAssertFalse(values.allSatisfy { $0 == 0 }, read.name)
        }
        XCTAssertTrue(model.tensors.contains { $0.name.hasPrefix("c") }, "layer c has no tensors")
    }

    func test_K23_collectionsWrittenByKerasParse() throws {
        for name in ["leaky.h5", "functional.h5", "flatten.h5"] {
            let bytes = try FixturePaths.bytes(try KerasFixture.model(name))
            let offset = try XCTUnwrap(bytes.firstRange(of: Array("GCOL".utf8))).lowerBound
            guard case .success(let parsed) = collection(bytes, at: offset) else { return XCTFail(name) }
            XCTAssertFalse(parsed.objects.isEmpty, name)
        }
    }

    // MARK: - Global heap

    /// The fuzz-found hang: a free-space object of size 0, on which libhdf5 steps in place forever.
    func test_K23_zeroSizedHeapObjectIsRefused() throws {
        let error = try XCTUnwrap(KerasFixture.readError(try FixturePaths.require("malformed/hostile/keras-global-heap-loop.h5")))
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("model_config"), error.description)
        XCTAssertTrue(error.description.contains("has size 0"), error.description)
    }

    func test_K23_heapObjectLargerThanItsCollectionIsRefused() throws {
        let bytes = try leakyH5()
        let (collection, object) = try freeSpaceObject(in: bytes)
        let huge = message(self.collection(settingLength(1 << 40, at: object + 8, in: bytes), at: collection))
        XCTAssertTrue(huge.contains("larger than its collection"), huge)
        let justPast = message(self.collection(settingLength(UInt64(bytes.count), at: object + 8, in: bytes), at: collection))
        XCTAssertTrue(justPast.contains("object 0"), justPast)
    }

    func test_K23_collectionLongerThanTheFileIsRefused() throws {
        let bytes = try leakyH5()
        let (collection, _) = try freeSpaceObject(in: bytes)
        let text = message(self.collection(settingLength(UInt64(bytes.count), at: collection + 8, in: bytes), at: collection))
        XCTAssertTrue(text.contains("more than the file holds"), text)
    }

    /// The stored reference of `model_config` in a legacy file h5py wrote: sequence length (4 bytes), heap address
    /// (8), object index (4), after the attribute message's name, datatype and dataspace (each padded to 8 bytes).
    private func modelConfigReference(in bytes: [UInt8]) throws -> Int {
        let name = try XCTUnwrap(bytes.firstRange(of: Array("model_config\0".utf8))).lowerBound
        let field = { (offset: Int) in Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
        let pad = { (size: Int) in (size + 7) / 8 * 8 }
        XCTAssertEqual(bytes[name - 8], 1, "model_config should be a version 1 attribute message")
        return name + pad(field(name - 6)) + pad(field(name - 4)) + pad(field(name - 2))
    }

    private func readError(_ bytes: [UInt8]) throws -> KerasError {
        let path = try FixturePaths.scratchDirectory(for: self) + "/forged.h5"
        try FixturePaths.write(bytes, to: path)
        return try XCTUnwrap(KerasFixture.readError(path))
    }

    /// The fuzz-found wild read: a reference to an object index the collection does not have.
    func test_K23_referenceToAMissingObjectIsRefused() throws {
        let error = try XCTUnwrap(KerasFixture.readError(try FixturePaths.require("malformed/hostile/keras-forged-string-index.h5")))
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("model_config"), error.description)
        XCTAssertTrue(error.description.contains("object 24579, which the global heap collection at byte 2048 does not hold"), error.description)
    }

    func test_K23_referenceToAnAddressWithoutACollectionIsRefused() throws {
        var bytes = try leakyH5()
        let reference = try modelConfigReference(in: bytes)
        bytes = settingLength(96, at: reference + 4, in: bytes)
        let error = try readError(bytes)
        XCTAssertTrue(error.description.contains("no global heap collection ('GCOL') at byte 96"), error.description)
        bytes = settingLength(1 << 50, at: reference + 4, in: bytes)
        XCTAssertTrue(try readError(bytes).description.contains("past the end of the"), "address past the file")
    }

    func test_K23_referenceLongerThanItsObjectIsRefused() throws {
        var bytes = try leakyH5()
        let reference = try modelConfigReference(in: bytes)
        let stored = Int(bytes[reference]) | Int(bytes[reference + 1]) << 8 | Int(bytes[reference + 2]) << 16
        bytes[reference] = UInt8(truncatingIfNeeded: stored + 1)
        bytes[reference + 1] = UInt8(truncatingIfNeeded: (stored + 1) >> 8)
        let error = try readError(bytes)
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("claims \(stored + 1) bytes; its heap object holds \(stored)"), error.description)
    }

    /// A null reference (address 0) is an empty string, as libhdf5 makes it: here an empty model config.
    func test_K23_nullReferenceIsAnEmptyString() throws {
        var bytes = try leakyH5()
        let reference = try modelConfigReference(in: bytes)
        bytes = settingLength(0, at: reference + 4, in: bytes)
        let error = try readError(bytes)
        guard case .invalidConfig = error else { return XCTFail("\(error)") }
    }

    // MARK: - Object headers

    /// The root group's continuation chunk claims 2^58 bytes or 3 GiB (libhdf5 reserved that much before checking;
    /// found by `fuzz-keras`): refused before anything is read or reserved.
    func test_K23_continuationChunkLargerThanTheFileIsRefused() throws {
        for (name, size) in [("keras-continuation-2-to-58.h5", "288230376151711744"), ("keras-continuation-3-gib.h5", "3221225472")] {
            let path = try FixturePaths.require("malformed/hostile/" + name)
            let error = try XCTUnwrap(KerasFixture.readError(path))
            guard case .hdf5 = error else { return XCTFail("\(name): \(error)") }
            XCTAssertTrue(error.description.contains("a header continuation claims \(size) bytes"), error.description)
        }
    }

    /// A header continuation that leads back to a chunk already read is a loop, not an endless read.
    func test_K23_headerContinuationLoopIsRefused() throws {
        var bytes = try leakyH5()
        let root = 0x60  // leaky.h5: the root object header (superblock version 0, 8-byte addresses)
        XCTAssertEqual(bytes[root], 1)
        let continuation = root + 16
        XCTAssertEqual(bytes[continuation], 0x10, "the root header should start with a continuation message")
        bytes = settingLength(UInt64(root), at: continuation + 8, in: bytes)
        bytes = settingLength(24, at: continuation + 16, in: bytes)
        let error = try readError(bytes)
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("continues into itself"), error.description)
    }

    /// Objects may share header chunks and groups may share B-trees, so the whole file has a work budget: with a
    /// budget of 20 entries leaky.h5's survey runs out and says so; with the real budget it reads.
    func test_K10_wholeFileWorkIsBudgeted() throws {
        let bytes = try leakyH5()
        let survey = { (limit: Int) -> Result<HDF5Survey, KerasError> in
            bytes.withUnsafeBytes { raw in
                Result { () throws(KerasError) -> HDF5Survey in
                    try HDF5Survey(try HDF5Reader(image: raw, label: "leaky.h5", workLimit: limit))
                }
            }
        }
        guard case .failure(let error) = survey(20) else { return XCTFail("a budget of 20 was enough") }
        XCTAssertTrue(error.description.contains("more than 20 entries in all")
                      || error.description.contains("more entries than its links (or the file) allow"), error.description)
        guard case .success(let full) = survey(HDF5Reader.maximumWork) else { return XCTFail("the real budget failed") }
        XCTAssertEqual(full.datasets.count, 6)
    }

    // MARK: - Fuzz findings

    /// The inputs `fuzz-keras` found while libhdf5 still read HDF5 (a hang, a 2^58-byte reservation, a wild read, a
    /// use after free), committed as found: each is one clean error now.
    func test_K23_fuzzFoundInputsAreRefused() throws {
        let expected = [
            "heap-object-size-0.h5": "has size 0",
            "continuation-0x0404.h5": "a header continuation points to address",
            "string-index-24579.h5": "refers to object 24579",
            "attribute-use-after-free.h5": "model_config",
        ]
        for (name, fragment) in expected {
            let path = try FixturePaths.require("malformed/fuzz/keras/" + name)
            let error = try XCTUnwrap(KerasFixture.readError(path), name)
            XCTAssertTrue(error.description.contains(fragment), "\(name): \(error.description)")
        }
    }
}
