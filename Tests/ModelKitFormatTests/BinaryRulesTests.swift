import XCTest
import ModelKitCore
import ModelKitFormat
import ModelKitTestSupport

/// Tests named after the rules of Specs/format.md sections 1 and 2.
final class BinaryRulesTests: XCTestCase {
    let data = MKitBytes.floats([1, 2, 3, 4])

    func valid() -> [UInt8] { MKitBytes.build(header: MKitBytes.header(data: data), data: data) }

    func assertError(_ bytes: [UInt8], _ kind: ModelFileError.Kind, contains text: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try MKitBytes.read(bytes), file: file, line: line) { error in
            guard let error = error as? ModelFileError else { return XCTFail("not a ModelFileError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(text), "'\(error)' does not mention '\(text)'", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
        }
    }

    func test_validHandBuiltFileReads() throws {
        let loaded = try MKitBytes.read(valid())
        XCTAssertEqual(loaded.model.tensor(named: "w")?.tensor.floatValues(), [1, 2, 3, 4])
        XCTAssertEqual(loaded.headerChecksum, .ok)
        XCTAssertEqual(loaded.tensorChecksums["w"], .ok)
    }

    func test_B01_wrongMagicIsNotThisFormat() {
        var bytes = valid()
        bytes[1] = UInt8(ascii: "X")
        assertError(bytes, .notThisFormat, contains: "not a ModelKit binary file")
        assertError(Array("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n".utf8), .notThisFormat, contains: "git-lfs pointer")
        assertError(Array("<!DOCTYPE html><html></html>".utf8), .notThisFormat, contains: "HTML")
    }

    func test_B01_textModeTransferIsDetected() {
        // CR LF → LF, as a text-mode transfer on Windows would do, and the high bit stripped.
        var crlfToLF = valid()
        crlfToLF.remove(at: 4)
        assertError(crlfToLF, .corrupt, contains: "text-mode transfer")
        var stripped = valid()
        stripped[0] = 0x09
        assertError(stripped, .corrupt, contains: "text-mode transfer")
    }

    func test_B02_newerMajorIsRefusedNamingBothVersions() {
        let bytes = MKitBytes.build(header: MKitBytes.header(data: data), data: data, major: 2, minor: 3)
        assertError(bytes, .unsupported, contains: "2.3 is newer than this reader's 1.1")
    }

    func test_B02_newerMinorLoads() throws {
        let bytes = MKitBytes.build(header: MKitBytes.header(data: data), data: data, major: 1, minor: 7)
        XCTAssertEqual(try MKitBytes.read(bytes).formatVersion, "1.7")
    }

    func test_B02_majorZeroIsInvalid() {
        assertError(MKitBytes.build(header: MKitBytes.header(data: data), data: data, major: 0), .corrupt, contains: "major version 0")
    }

    func test_B03_unknownFlagsAreRefused() {
        assertError(MKitBytes.build(header: MKitBytes.header(data: data), data: data, flags: 4), .unsupported, contains: "flags")
    }

    func test_B04_headerLengthPastEndOfFile() {
        let bytes = MKitBytes.build(header: MKitBytes.header(data: data), data: data, declaredHeaderLength: 1 << 20)
        assertError(bytes, .truncated, contains: "header needs 1048576 bytes")
    }

    func test_B04_headerLengthOverLimitIsRefusedBeforeAllocation() {
        let bytes = MKitBytes.build(header: MKitBytes.header(data: data), data: data, declaredHeaderLength: 1 << 60)
        assertError(bytes, .corrupt, contains: "exceeds")
    }

    func test_B05_headerChecksumMismatch() {
        assertError(MKitBytes.build(header: MKitBytes.header(data: data), data: data, headerCRC: 0xDEADBEEF), .checksumMismatch, contains: "header checksum")
        var flipped = valid()
        flipped[40] ^= 0x01  // a bit inside the JSON header
        assertError(flipped, .checksumMismatch, contains: "header checksum")
    }

    func test_B06_paddingAfterHeaderMustBeZero() {
        // Only meaningful when the header does not end on a multiple of 64.
        let header = MKitBytes.header(data: data)
        XCTAssertNotEqual((32 + header.utf8.count) % 64, 0)
        assertError(MKitBytes.build(header: header, data: data, padding: 0x20), .corrupt, contains: "(B6)")
    }

    func test_B07_fileLengthMustMatchExactly() {
        assertError(Array(valid().dropLast(3)), .truncated, contains: "3 missing")
        assertError(valid() + [0], .corrupt, contains: "1 unexpected bytes")
    }

    func test_B08_offsetsAlignedInsideAndNotOverlapping() {
        let unaligned = MKitBytes.build(header: MKitBytes.header(offset: 4, length: 16, dataSize: 20, data: [0, 0, 0, 0] + data),
                                        data: [0, 0, 0, 0] + data)
        assertError(unaligned, .corrupt, contains: "not a multiple of 64")
        let outside = MKitBytes.build(header: MKitBytes.header(offset: 64, length: 16, dataSize: 16, crc: "00000000", data: data), data: data)
        assertError(outside, .corrupt, contains: "outside")
        let second = #",{"name":"v","dtype":"float32","shape":[2],"offset":0,"length":8,"encoding":"raw","crc32":"00000000"}"#
        let overlapping = MKitBytes.build(header: MKitBytes.header(extraTensor: second, data: data), data: data)
        assertError(overlapping, .corrupt, contains: "overlap")
    }

    func test_B08_gapsMustBeZero() {
        let padded = data + [UInt8](repeating: 7, count: 48) + data
        let second = #",{"name":"v","dtype":"float32","shape":[4],"offset":64,"length":16,"encoding":"raw","crc32":"\#(CRC32.hex(CRC32.checksum(data)))"}"#
        let bytes = MKitBytes.build(header: MKitBytes.header(dataSize: 80, extraTensor: second, data: padded), data: padded)
        assertError(bytes, .corrupt, contains: "padding before tensor 'v'")
    }

    func test_B09_overflowingSizesAreErrors() {
        let huge = MKitBytes.build(header: MKitBytes.header(offset: 0, length: 16, dataSize: Int.max, data: data), data: data)
        assertError(huge, .corrupt, contains: "overflows")
        let shape = MKitBytes.build(header: MKitBytes.header(shape: "[4294967296, 4294967296]", data: data), data: data)
        assertError(shape, .corrupt, contains: "overflow")
    }

    func test_B09_claimed2to60BytesIsTruncationNotAllocation() {
        let bytes = MKitBytes.build(header: MKitBytes.header(offset: 0, length: 16, dataSize: 1 << 60, data: data), data: data)
        assertError(bytes, .truncated, contains: "missing")
    }

    func test_C01_crc32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.hex(0xCBF4_3926), "cbf43926")
        XCTAssertEqual(CRC32.hex(0x1), "00000001")
    }

    func test_C02_tensorChecksumMismatchNamesTheTensor() {
        var bytes = valid()
        bytes[bytes.count - 1] ^= 0x80
        assertError(bytes, .checksumMismatch, contains: "tensor 'w' checksum mismatch")
    }

    func test_C02_reportPolicyRecordsMismatchWithoutFailing() throws {
        var bytes = valid()
        bytes[bytes.count - 1] ^= 0x80
        XCTAssertEqual(try MKitBytes.read(bytes, checksums: .report).tensorChecksums["w"], .mismatch)
        XCTAssertEqual(try MKitBytes.read(bytes, checksums: .skip).tensorChecksums["w"], .notChecked)
    }

    func test_everyTruncationThrows() throws {
        let model = SampleModels.dense([4, 3, 2])
        let directory = try FixturePaths.scratchDirectory(for: self)
        try MKitWriter.write(model, to: directory + "/m.mkit")
        let bytes = try FixturePaths.bytes(directory + "/m.mkit")
        let layout = MKitWriter.layout(model)
        let boundaries = [8, 32, 32 + layout.headerBytes.count, layout.dataStart] + layout.header.tensors.map { layout.dataStart + $0.offset }
        MalformedInput.assertEveryTruncationThrows(bytes, boundaries: boundaries) { prefix in _ = try MKitBytes.read(prefix) }
    }

    func test_randomByteFlipsNeverCrash() throws {
        let model = SampleModels.dense([5, 4, 3])
        let directory = try FixturePaths.scratchDirectory(for: self)
        try MKitWriter.write(model, to: directory + "/m.mkit")
        let bytes = try FixturePaths.bytes(directory + "/m.mkit")
        var generator = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            var damaged = bytes
            let index = Int(generator.next() % UInt64(bytes.count))
            damaged[index] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            // Most flips hit a checksum; with checksums off, the structural checks must still hold.
            _ = try? MKitBytes.read(damaged)
            _ = try? MKitBytes.read(damaged, checksums: .skip)
        }
    }
}
