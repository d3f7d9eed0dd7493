import Foundation
import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest
import ZIPFoundation

/// Our zip reader agrees with ZIPFoundation on real archives and is stricter where ZIPFoundation is unsafe.
final class ZipArchiveTests: XCTestCase {
    func test_Z1_listingMatchesZIPFoundationForNumPyArchives() throws {
        for name in ["stored.npz", "deflated.npz", "positional.npz", "single.npz", "zip64.npz"] {
            let path = try NumPyFixtures.path(name)
            let ours = try ZipArchive.open(path)
            let theirs = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
            let entries = Array(theirs)
            XCTAssertEqual(ours.memberNames, entries.map(\.path), name)
            for (member, entry) in zip(ours.members, entries) {
                XCTAssertEqual(member.crc32, entry.checksum, "\(name) \(member.name)")
                XCTAssertEqual(UInt64(member.uncompressedSize), entry.uncompressedSize, "\(name) \(member.name)")
                XCTAssertEqual(UInt64(member.compressedSize), entry.compressedSize, "\(name) \(member.name)")
                XCTAssertEqual(member.method == .deflated, entry.isCompressed)
                var extracted = Data()
                _ = try theirs.extract(entry) { extracted.append($0) }
                XCTAssertEqual([UInt8](extracted), try ours.contents(of: member).copyBytes(), "\(name) \(member.name)")
            }
        }
    }

    /// Documents why we do not extract with ZIPFoundation: `extract(_:consumer:)` returns a CRC-32 that does not
    /// match the recorded one without throwing; the caller must compare (we do, in ZipArchive.contents(of:)).
    func test_Z6_zipFoundationDoesNotVerifyCRCWhenExtractingToMemory() throws {
        let path = try NumPyFixtures.malformed("crc_mismatch.npz")
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        let entry = try XCTUnwrap(archive["weights.npy"])
        let computed = try archive.extract(entry) { _ in }
        XCTAssertNotEqual(computed, entry.checksum, "ZIPFoundation now throws or matches; revisit ZipArchive's notes")
        XCTAssertThrowsError(try ZipArchive.open(path).contents(ofMemberNamed: "weights.npy"))
    }

    func test_Z8_zipFoundationReadsArchivesWeWrite() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let tensor = numpyPatternTensor(.float32, [64, 9])
        for compressed in [false, true] {
            let path = directory + "/w\(compressed).npz"
            try NumPyFile.writeArchive([("w", tensor)], to: path, compressed: compressed)
            let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
            let entry = try XCTUnwrap(archive["w.npy"])
            var extracted = Data()
            let crc = try archive.extract(entry) { extracted.append($0) }
            XCTAssertEqual(crc, entry.checksum)
            XCTAssertEqual([UInt8](extracted), try NumPyFile.encode(tensor))
        }
    }

    func test_Z4_inflatedSizeLimitIsEnforcedBeforeAnyAllocation() throws {
        let path = try NumPyFixtures.path("deflated.npz")
        let limits = ZipArchive.Limits(maximumInflatedSize: 1000)
        XCTAssertThrowsError(try ZipArchive.open(path, limits: limits)) { error in
            XCTAssertTrue("\(error)".contains("more than the limit of 1000"), "\(error)")
        }
        XCTAssertThrowsError(try NumPyFile.readArchive(path: path, limits: limits))
        let tight = ZipArchive.Limits(maximumMemberCount: 2)
        XCTAssertThrowsError(try ZipArchive.open(path, limits: tight)) { error in
            XCTAssertTrue("\(error)".contains("3 members, more than the limit of 2"), "\(error)")
        }
    }

    func test_Z1_notAZipSaysWhatTheFileIs() throws {
        XCTAssertThrowsError(try ZipArchive.open(try NumPyFixtures.path("float32_v1.npy"))) { error in
            XCTAssertTrue("\(error)".contains("not a zip archive (it looks like NumPy array (.npy))"), "\(error)")
        }
        XCTAssertThrowsError(try ZipArchive.open("/nonexistent/a.npz")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/a.npz"), "\(error)")
        }
    }

    func test_Z7_memberNotFoundListsTheMembers() throws {
        let archive = try ZipArchive.open(try NumPyFixtures.path("stored.npz"))
        XCTAssertThrowsError(try archive.contents(ofMemberNamed: "nope.npy")) { error in
            XCTAssertTrue("\(error)".contains("'weights.npy', 'labels.npy', 'scale.npy'"), "\(error)")
        }
    }

    func test_Z3_overlappingMembersAreRefused() throws {
        // The first member's sizes are stretched to cover the members after it: one region read several times is
        // how the "overlapping files" zip bomb multiplies a small file.
        var bytes = try FixturePaths.bytes(try NumPyFixtures.path("stored.npz"))
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let entries = bytes.indices.filter { Array(bytes[$0..<min($0 + 4, bytes.count)]) == signature }
        XCTAssertEqual(entries.count, 3)
        let dataStart = 30 + Int(bytes[26]) + Int(bytes[27]) << 8 + Int(bytes[28]) + Int(bytes[29]) << 8
        let stretched = UInt32(entries[0] - dataStart)
        for offset in [20, 24] {
            for byte in 0..<4 { bytes[entries[0] + offset + byte] = UInt8(truncatingIfNeeded: stretched >> (8 * UInt32(byte))) }
        }
        XCTAssertThrowsError(try ZipArchive(storage: TensorStorage(copying: bytes), path: "overlap.npz")) { error in
            XCTAssertTrue("\(error)".contains("members 'weights.npy' and 'labels.npy' overlap"), "\(error)")
        }
    }
}
