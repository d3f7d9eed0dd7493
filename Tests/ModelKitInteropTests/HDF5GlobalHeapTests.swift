import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// K23: global heap collections libhdf5 1.10.8 would loop on or read past are refused before libhdf5 opens the file,
/// and variable-length strings are read from ModelKit's checked heap index, so a forged reference is refused instead
/// of followed; the collections and strings real Keras files hold all pass.
final class HDF5GlobalHeapTests: XCTestCase {
    private func failure(_ bytes: [UInt8]) -> HDF5GlobalHeap.Failure? {
        bytes.withUnsafeBytes { image -> HDF5GlobalHeap.Failure? in
            do throws(HDF5GlobalHeap.Failure) {
                _ = try HDF5GlobalHeap.scan(image)
                return nil
            } catch {
                return error
            }
        }
    }

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

    func test_K23_collectionsWrittenByKerasPass() throws {
        var checked = 0
        for name in ["leaky.h5", "functional.h5", "flatten.h5"] {
            let bytes = try FixturePaths.bytes(try KerasFixture.model(name))
            XCTAssertNotNil(bytes.firstRange(of: Array("GCOL".utf8)), "\(name) has no global heap to check")
            XCTAssertNil(failure(bytes), name)
            checked += 1
        }
        for name in ["leaky.keras", "functional.keras"] {
            let archive = try ZipArchive.open(try KerasFixture.model(name))
            let weights = try archive.contents(ofMemberNamed: "model.weights.h5").withUnsafeBytes { [UInt8]($0) }
            XCTAssertNotNil(weights.firstRange(of: Array("GCOL".utf8)), "\(name) has no global heap to check")
            XCTAssertNil(failure(weights), name)
            checked += 1
        }
        XCTAssertEqual(checked, 5)
    }

    /// The fuzz-found hang: a free-space object of size 0. Checked first without libhdf5, so a broken check fails
    /// here instead of hanging the whole test run inside libhdf5.
    func test_K23_zeroSizedObjectIsRefusedBeforeLibhdf5LoopsOnIt() throws {
        let path = try FixturePaths.require("malformed/hostile/keras-global-heap-loop.h5")
        let bytes = try FixturePaths.bytes(path)
        let found = try XCTUnwrap(failure(bytes), "the zero-sized object passed the check")
        XCTAssertTrue(found.reason.contains("size 0"), found.reason)
        let error = try XCTUnwrap(KerasFixture.readError(path))
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("global heap collection at byte \(found.offset)"), error.description)
        XCTAssertTrue(error.description.contains("loops forever"), error.description)
    }

    func test_K23_objectLargerThanItsCollectionIsRefused() throws {
        let bytes = try leakyH5()
        let (_, object) = try freeSpaceObject(in: bytes)
        let found = try XCTUnwrap(failure(settingLength(1 << 40, at: object + 8, in: bytes)))
        XCTAssertTrue(found.reason.contains("larger than its collection"), found.reason)
        // A size that passes the collection's end by a few bytes (not the wrap-around above) is refused too.
        let tail = try XCTUnwrap(failure(settingLength(UInt64(bytes.count), at: object + 8, in: bytes)))
        XCTAssertTrue(tail.reason.contains("object 0"), tail.reason)
    }

    func test_K23_collectionLongerThanTheFileIsRefused() throws {
        let bytes = try leakyH5()
        let (collection, _) = try freeSpaceObject(in: bytes)
        let found = try XCTUnwrap(failure(settingLength(UInt64(bytes.count), at: collection + 8, in: bytes)))
        XCTAssertEqual(found.offset, collection)
        XCTAssertTrue(found.reason.contains("more bytes than the file holds"), found.reason)
    }

    /// A `GCOL` of another version, or bytes that only look like a signature at the very end, are left to libhdf5.
    func test_K23_otherVersionsAndTruncatedSignaturesAreLeftToLibhdf5() throws {
        var bytes = try leakyH5()
        let (collection, object) = try freeSpaceObject(in: bytes)
        bytes = settingLength(0, at: object + 8, in: bytes)
        bytes[collection + 4] = 2
        XCTAssertNil(failure(bytes))
        XCTAssertNil(failure(try leakyH5() + Array("GCOL".utf8)))
    }

    // MARK: - String references

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

    /// The fuzz-found crash: a reference to an object index the collection does not have (libhdf5 reads past its
    /// object table and copies from a wild pointer).
    func test_K23_referenceToAMissingObjectIsRefused() throws {
        let error = try XCTUnwrap(KerasFixture.readError(try FixturePaths.require("malformed/hostile/keras-forged-string-index.h5")))
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("model_config"), error.description)
        XCTAssertTrue(error.description.contains("object 24579, which the collection does not hold"), error.description)
    }

    func test_K23_referenceToAnAddressWithoutACollectionIsRefused() throws {
        var bytes = try leakyH5()
        let reference = try modelConfigReference(in: bytes)
        bytes = settingLength(96, at: reference + 4, in: bytes)
        let error = try readError(bytes)
        guard case .unsafeHDF5 = error else { return XCTFail("\(error)") }
        XCTAssertTrue(error.description.contains("address 96, where no global heap collection is"), error.description)
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

    /// Read through the stored references, the strings are exactly what Keras wrote (the model config parses, the
    /// model's layers come out), and an empty reference (address 0) is an empty string, as libhdf5 makes it.
    func test_K23_stringsReadFromTheHeapAreKerasOwn() throws {
        let model = try KerasFormat.read(path: try KerasFixture.model("leaky.h5"))
        XCTAssertEqual(model.info.metadata["keras_version"], "3.15.1")
        XCTAssertFalse(model.layers.isEmpty)
        var bytes = try leakyH5()
        let reference = try modelConfigReference(in: bytes)
        bytes = settingLength(0, at: reference + 4, in: bytes)
        let error = try readError(bytes)
        XCTAssertTrue(error.description.contains("model_config"), error.description)
    }
}
