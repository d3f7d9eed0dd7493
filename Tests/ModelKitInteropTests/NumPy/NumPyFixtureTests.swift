import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Every valid fixture written by numpy 2.4.6 reads back as numpy sees it (Fixtures/models/numpy/expected.json).
final class NumPyFixtureTests: XCTestCase {
    func test_N5_N8_everyNpyFixtureMatchesNumPy() throws {
        let files = try XCTUnwrap(try NumPyFixtures.expected()["files"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(files.count, 20)
        for entry in files {
            let name = try XCTUnwrap(entry["file"]?.stringValue)
            let expected = try NumPyExpectedArray(entry, label: name)
            let tensor = try NumPyFile.readArray(path: try NumPyFixtures.path(name))
            expected.assertMatches(tensor)
        }
    }

    func test_Z7_everyNpzFixtureMatchesNumPyInArchiveOrder() throws {
        let archives = try XCTUnwrap(try NumPyFixtures.expected()["archives"]?.arrayValue)
        XCTAssertEqual(archives.count, 5)
        for archive in archives {
            let name = try XCTUnwrap(archive["file"]?.stringValue)
            let members = try XCTUnwrap(archive["members"]?.arrayValue)
            let arrays = try NumPyFile.readArchive(path: try NumPyFixtures.path(name))
            XCTAssertEqual(arrays.map(\.name), try members.map { try XCTUnwrap($0["name"]?.stringValue) }, name)
            for (member, array) in zip(members, arrays) {
                try NumPyExpectedArray(member, label: "\(name)[\(array.name)]").assertMatches(array.tensor)
            }
            XCTAssertEqual(try NumPyFile.archiveArrayNames(path: try NumPyFixtures.path(name)), arrays.map(\.name))
        }
    }

    func test_N8_littleEndianCOrderDataIsViewedWithoutCopy() throws {
        for entry in try XCTUnwrap(try NumPyFixtures.expected()["files"]?.arrayValue) {
            let name = try XCTUnwrap(entry["file"]?.stringValue)
            let descr = try XCTUnwrap(entry["descr"]?.stringValue)
            let fortran = try XCTUnwrap(entry["fortran_order"]?.boolValue)
            let dataOffset = try XCTUnwrap(entry["data_offset"]?.intValue)
            let tensor = try NumPyFile.readArray(path: try NumPyFixtures.path(name))
            let needsCopy = descr.hasPrefix(">") || (fortran && tensor.shape.dimensions.filter { $0 > 1 }.count > 1)
            // A view keeps the file's data offset; a converted copy starts at 0 in fresh storage.
            XCTAssertEqual(tensor.byteOffset, needsCopy ? 0 : dataOffset, name)
        }
        // Stored .npz members are views into the mapped archive too.
        let stored = try NumPyFile.readArchive(path: try NumPyFixtures.path("stored.npz"))
        XCTAssertTrue(stored.allSatisfy { $0.tensor.byteOffset > 0 })
        let deflated = try NumPyFile.readArchive(path: try NumPyFixtures.path("deflated.npz"))
        XCTAssertTrue(deflated.allSatisfy { $0.tensor.byteOffset > 0 }, "header skipped inside the inflated member")
    }

    /// Our writer produces exactly np.save's bytes for C-order little-endian arrays (same header text, padding).
    func test_W1_writtenBytesEqualNumPysForVersion1Fixtures() throws {
        var compared = 0
        for entry in try XCTUnwrap(try NumPyFixtures.expected()["files"]?.arrayValue) {
            let name = try XCTUnwrap(entry["file"]?.stringValue)
            guard entry["version"]?.stringValue == "1.0", entry["fortran_order"]?.boolValue == false,
                  entry["descr"]?.stringValue?.hasPrefix(">") == false else { continue }
            let path = try NumPyFixtures.path(name)
            let tensor = try NumPyFile.readArray(path: path)
            XCTAssertEqual(try NumPyFile.encode(tensor), try FixturePaths.bytes(path), "\(name) differs from np.save")
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 10)
    }

    func test_Z7_readArchiveArrayReadsOnlyTheNamedMember() throws {
        let path = try NumPyFixtures.path("deflated.npz")
        let labels = try NumPyFile.readArchiveArray(path: path, named: "labels")
        XCTAssertEqual(labels.dtype, .int64)
        XCTAssertEqual(labels.shape, [3])
        XCTAssertThrowsError(try NumPyFile.readArchiveArray(path: path, named: "missing")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'missing'") && text.contains("'weights', 'labels', 'zeros'"), text)
        }
    }
}
