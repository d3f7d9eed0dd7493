import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// The records around `data.pkl` (P3), damaged storages and views (P9) and the limits that keep a small file from
/// claiming much memory, on torch-written fixtures and on copies of them with one thing changed.
final class PyTorchRecordTests: XCTestCase {
    func scratch(_ name: String) throws -> String { try FixturePaths.scratchDirectory(for: self) + "/" + name }

    /// The error reading `path` gives, checked for its case and text.
    func assertRefused(_ path: String, _ fragment: String, key: String? = nil, file: StaticString = #filePath, line: UInt = #line,
                       _ match: (PyTorchError) -> Bool) {
        let error = TorchFixture.error({ _ = try PyTorchFormat.readStateDict(path: path, key: key) }, file: file, line: line)
        XCTAssertTrue(error.map(match) == true, "\(path): \(String(describing: error))", file: file, line: line)
        XCTAssertTrue(error?.description.contains(fragment) == true, "\(path): \(error?.description ?? "")", file: file, line: line)
    }

    // MARK: - P3 records

    func test_P3_byteorderAndVersionAreOptionalAndOtherRecordsAreIgnored() throws {
        let expected = try TorchFixture.expectedTensors("sequential_f32")
        // torch before 1.10 wrote no byteorder (little-endian); `version` is optional here, "unknown" in the report.
        let bare = try scratch("bare.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: bare, replacing: ["byteorder": nil, "version": nil])
        TorchFixture.assertMatches(try PyTorchFormat.readStateDict(path: bare), expected, "no byteorder, no version")
        let loaded = try PyTorchFormat.read(path: bare, architecture: try Architecture(parsing: "linear(5,4) relu linear(4,3)"))
        XCTAssertEqual(loaded.formatVersion, "unknown")
        // `.format_version`, `.storage_alignment` and unknown records do not change how storages are found.
        let odd = try scratch("odd.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: odd, replacing: [".format_version": Array("zzz".utf8),
                                                                           ".storage_alignment": Array("7".utf8),
                                                                           "extra/notes.txt": Array("hello".utf8)])
        TorchFixture.assertMatches(try PyTorchFormat.readStateDict(path: odd), expected, "odd records")
        // White space around the version is dropped.
        let spaced = try scratch("spaced.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: spaced, replacing: ["version": Array(" 3 \n".utf8)])
        XCTAssertEqual(try PyTorchFormat.read(path: spaced, architecture: try Architecture(parsing: "linear(5,4) relu linear(4,3)")).formatVersion, "3")
    }

    func test_P3_byteorderAndVersionAreReadOnlyWhenSmall() throws {
        for record in ["version", "byteorder"] {
            let path = try scratch("\(record).pt")
            try TorchFixture.rewrite("sequential_f32.pt", to: path, replacing: [record: [UInt8](repeating: 0x33, count: 65)])
            assertRefused(path, "record 'archive/\(record)' holds 65 bytes; torch writes a few") {
                if case .archive(.corrupt) = $0 { true } else { false }
            }
        }
    }

    func test_P3_badByteOrderIsRefused() throws {
        assertRefused(try TorchFixture.malformed("bad_byteorder.pt"), "the byteorder record says 'middle'") {
            if case .invalidByteOrder = $0 { true } else { false }
        }
    }

    func test_P1_zipWithoutDataPklIsNotATorchArchive() throws {
        assertRefused(try TorchFixture.malformed("no_data_pkl.pt"), "no '<archive>/data.pkl' member") {
            if case .notATorchArchive = $0 { true } else { false }
        }
    }

    func test_P1_barePickleSaysWhatItHolds() throws {
        let path = try TorchFixture.malformed("bare_pickle.pkl")
        let error = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path) }
        guard case .barePickle? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(error?.kind, .notThisFormat)
        XCTAssertEqual(error?.description, "\(path): a bare pickle holding a dict of 2 entries ('weights', 'epoch'), not a torch.save "
                       + "archive; re-save it with torch.save(model.state_dict(), path) (torch ≥ 1.6 writes the zip format by default)")
    }

    // MARK: - P4 and P7 on whole files

    func test_P4_unknownOpcodeIsRefusedByName() throws {
        assertRefused(try TorchFixture.malformed("unknown_opcode.pt"), "pickle opcode EXT1 (0x82) at offset 2") {
            if case .unsupportedOpcode = $0 { true } else { false }
        }
    }

    func test_P7_nestingBombHitsTheMarkLimit() throws {
        assertRefused(try TorchFixture.malformed("nesting_bomb.pt"), "the limit of 1000 nested MARKs") {
            if case .pickleLimit = $0 { true } else { false }
        }
    }

    func test_P7_truncatedPickleAndArchivesGiveOneLineErrors() throws {
        assertRefused(try TorchFixture.malformed("truncated_pickle.pt"), "(truncated)") {
            if case .malformedPickle = $0 { true } else { false }
        }
        for file in ["truncated_half.pt", "truncated_tail.pt"] {
            assertRefused(try TorchFixture.malformed(file), "cut short") { if case .archive = $0 { true } else { false } }
        }
    }

    // MARK: - P9 storages and views

    func test_P9_missingStorageRecordNamesTheTensor() throws {
        assertRefused(try TorchFixture.malformed("missing_storage.pt"), "tensor '0.bias' refers to storage record 'archive/data/1'") {
            if case .missingStorage = $0 { true } else { false }
        }
    }

    func test_P9_viewsOutsideTheirStorageAreRefusedBeforeReading() throws {
        assertRefused(try TorchFixture.malformed("storage_too_small.pt"),
                      "tensor '0.weight': size [5, 5], stride [5, 1] and offset 0 reach element 24 of storage '0', which has 20") {
            if case .invalidTensorView = $0 { true } else { false }
        }
        assertRefused(try TorchFixture.malformed("stride_outside_storage.pt"), "tensor '0.weight': size [4, 5], stride [9, 1]") {
            if case .invalidTensorView = $0 { true } else { false }
        }
        // An offset past the end.
        let offset = try scratch("offset.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: offset, replacing: ["data.pkl": TorchFixture.dictPickle([
            ("x", TorchFixture.floatTensor(key: "3", count: 3, offset: 3, size: [1], stride: [1]))])])
        assertRefused(offset, "reach element 3 of storage '3', which has 3") { if case .invalidTensorView = $0 { true } else { false } }
    }

    func test_P9_storageRecordMustHoldExactlyTheDeclaredBytes() throws {
        assertRefused(try TorchFixture.malformed("storage_record_short.pt"),
                      "storage record 'archive/data/0' holds 80 bytes but its reference in data.pkl needs 84") {
            if case .storageSizeMismatch = $0 { true } else { false }
        }
    }

    func test_P9_storageBytesThatFailTheirCRCAreRefused() throws {
        let path = try TorchFixture.malformed("storage_crc_mismatch.pt")
        assertRefused(path, "member 'archive/data/0' fails its CRC-32 check") {
            if case .archive(.checksumMismatch) = $0 { true } else { false }
        }
        XCTAssertEqual(TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path) }?.kind, .checksumMismatch)
        // Listing keys reads no tensor data, so it still works.
        XCTAssertEqual(try PyTorchFormat.listKeys(path: path).map(\.key), ["0.weight", "0.bias", "2.weight", "2.bias"])
    }

    func test_P9_moreThanEightDimensionsAreRefused() throws {
        let path = try scratch("rank9.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: path, replacing: ["data.pkl": TorchFixture.dictPickle([
            ("deep", TorchFixture.floatTensor(key: "3", count: 3, size: [Int](repeating: 1, count: 9), stride: [Int](repeating: 1, count: 9)))])])
        assertRefused(path, "tensor 'deep': 9 dimensions; at most 8 are supported") { if case .invalidTensorView = $0 { true } else { false } }
        // Eight are fine.
        let eight = try scratch("rank8.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: eight, replacing: ["data.pkl": TorchFixture.dictPickle([
            ("deep", TorchFixture.floatTensor(key: "3", count: 3, size: [Int](repeating: 1, count: 7) + [3], stride: [Int](repeating: 1, count: 8)))])])
        XCTAssertEqual(try PyTorchFormat.readStateDict(path: eight).first?.tensor.shape.dimensions, [1, 1, 1, 1, 1, 1, 1, 3])
    }

    /// A stride-0 view repeats elements: its copy may exceed its storage by at most 256 MiB, checked before
    /// anything is allocated.
    func test_P9_broadcastCopiesAreCapped() throws {
        let path = try scratch("broadcast.pt")
        let count = TorchTensorReader.maximumExpansionBytes / 4 + 1
        try TorchFixture.rewrite("sequential_f32.pt", to: path, replacing: ["data.pkl": TorchFixture.dictPickle([
            ("wide", TorchFixture.floatTensor(key: "3", count: 3, size: [count], stride: [0]))])])
        assertRefused(path, "tensor 'wide': a view of \(count) elements over a storage of 3 would need \(count * 4) bytes when "
                      + "copied, more than the 268435456 allowed for views that repeat elements") {
            if case .invalidTensorView = $0 { true } else { false }
        }
        // A small broadcast is copied.
        let small = try scratch("small_broadcast.pt")
        try TorchFixture.rewrite("sequential_f32.pt", to: small, replacing: ["data.pkl": TorchFixture.dictPickle([
            ("wide", TorchFixture.floatTensor(key: "3", count: 3, offset: 1, size: [2, 4], stride: [1, 0]))])])
        let bias = try XCTUnwrap(try PyTorchFormat.readStateDict(path: try TorchFixture.model("sequential_f32.pt")).last?.tensor.floatValues())
        XCTAssertEqual(try PyTorchFormat.readStateDict(path: small).first?.tensor.floatValues(),
                       [Float](repeating: bias[1], count: 4) + [Float](repeating: bias[2], count: 4))
    }
}
