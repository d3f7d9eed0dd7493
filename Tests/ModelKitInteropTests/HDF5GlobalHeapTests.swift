import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// K23: global heap collections libhdf5 1.10.8 would loop on or read past are refused before libhdf5 opens the file;
/// the collections real Keras files hold all pass.
final class HDF5GlobalHeapTests: XCTestCase {
    private func failure(_ bytes: [UInt8]) -> HDF5GlobalHeapCheck.Failure? {
        bytes.withUnsafeBytes { image -> HDF5GlobalHeapCheck.Failure? in
            do throws(HDF5GlobalHeapCheck.Failure) {
                try HDF5GlobalHeapCheck.check(image)
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
}
