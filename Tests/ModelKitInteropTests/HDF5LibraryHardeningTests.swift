import Foundation
import ModelKitCore
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// What libhdf5 does with damaged files, seen from ModelKit (Specs/security.md, "libhdf5"): a size the file cannot
/// hold gives one clean line (libhdf5 reserves the buffer, never fills it, and the command stays small:
/// `HostileCorpusCommandTests` runs these files through `modelkit inspect` under a memory limit), and no read leaves
/// an HDF5 object open, whatever went wrong.
final class HDF5LibraryHardeningTests: XCTestCase {
    /// The root group's continuation chunk claims 2^58 bytes (malloc fails) or 3 GiB (malloc succeeds; the read past
    /// the end of the file is refused). Both were found by `fuzz-keras`.
    func test_continuationChunkLargerThanTheFileIsAnErrorNamingTheFile() throws {
        for (name, detail) in [("keras-continuation-2-to-58.h5", "memory allocation failed"),
                               ("keras-continuation-3-gib.h5", "size = 3221225472")] {
            let path = try FixturePaths.require("malformed/hostile/" + name)
            let error = try XCTUnwrap(KerasFixture.readError(path))
            guard case .hdf5 = error else { return XCTFail("\(name): \(error)") }
            XCTAssertTrue(error.description.hasPrefix(path + ":"), error.description)
            XCTAssertTrue(error.description.contains(detail), error.description)
        }
    }

    /// Every Keras fixture (valid, damaged, hostile) and every truncation of a valid legacy file is read; afterwards
    /// no HDF5 object is open: a handle leaked on an error path would show here (the fuzz target suppresses leaks
    /// inside libhdf5 itself, so it cannot see ours).
    func test_noHDF5ObjectStaysOpenAfterAnyRead() throws {
        XCTAssertEqual(HDF5Library.openObjectCount(), 0, "objects were open before the test")
        // The count sees an open file (so the checks below can fail).
        let leaky = try FixturePaths.bytes(try KerasFixture.model("leaky.h5"))
        var held: HDF5Reader? = try leaky.withUnsafeBytes { image throws(KerasError) in
            try HDF5Reader(image: image, label: "leaky.h5")
        }
        XCTAssertNotNil(held)
        XCTAssertGreaterThan(HDF5Library.openObjectCount(), 0)
        held = nil
        XCTAssertEqual(HDF5Library.openObjectCount(), 0)
        var paths: [String] = []
        for folder in ["models/keras", "malformed/keras", "malformed/hostile"] {
            let directory = FixturePaths.fixture(folder)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            where name.hasSuffix(".h5") || name.hasSuffix(".keras") {
                paths.append(directory + "/" + name)
            }
        }
        XCTAssertGreaterThan(paths.count, 20)
        var failures = 0
        for path in paths {
            do { _ = try KerasFormat.read(path: path) } catch { failures += 1 }
            XCTAssertEqual(HDF5Library.openObjectCount(), 0, "reading \(path) left HDF5 objects open")
        }
        XCTAssertGreaterThan(failures, 10, "the damaged files should fail")

        let scratch = try FixturePaths.scratchDirectory(for: self)
        let bytes = try FixturePaths.bytes(try KerasFixture.model("leaky.h5"))
        for cut in stride(from: 96, to: bytes.count, by: bytes.count / 40) {
            let path = scratch + "/cut-\(cut).h5"
            try FixturePaths.write(Array(bytes[..<cut]), to: path)
            XCTAssertThrowsError(try KerasFormat.read(path: path), "cut at \(cut)")
            XCTAssertEqual(HDF5Library.openObjectCount(), 0, "the file cut at \(cut) left HDF5 objects open")
        }
    }
}
