import ModelKitCore
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Every damaged or hostile file in Fixtures/malformed/numpy gives a one-line error that names the file and the
/// problem; none crashes, hangs or allocates from an unproven size.
final class NumPyMalformedTests: XCTestCase {
    /// File → fragments its error message must contain.
    static let expectations: [(file: String, fragments: [String])] = [
        ("bad_magic.npy", ["not a NumPy .npy file"]),
        ("empty.npy", ["not a NumPy .npy file", "empty file"]),
        ("unsupported_version.npy", ["version 4.0 is not supported"]),
        ("truncated_header.npy", ["truncated .npy header", "needs 128 bytes", "has 40"]),
        ("truncated_data.npy", ["truncated data", "need 24 bytes", "only 14", "10 bytes missing"]),
        ("trailing_data.npy", ["8 unexpected bytes after the 24 bytes"]),
        ("huge_shape.npy", ["truncated data", "need 4398046511104 bytes"]),
        ("overflow_shape.npy", ["invalid shape (4294967296, 4294967296)", "more bytes than a 64-bit size"]),
        ("negative_shape.npy", ["invalid shape (-2, 3)", "dimension -2 is negative"]),
        ("garbage_shape.npy", ["'two' is not an integer"]),
        ("shape_not_tuple.npy", ["invalid shape 6", "must be a tuple"]),
        ("unterminated_dict.npy", ["malformed .npy header", "unterminated dictionary"]),
        ("missing_key.npy", ["missing key 'fortran_order'"]),
        ("extra_key.npy", ["unexpected key 'x'"]),
        ("duplicate_key.npy", ["key 'descr' appears twice"]),
        ("fortran_not_bool.npy", ["'fortran_order' is 0, not True or False"]),
        ("header_length_past_end.npy", ["truncated .npy header", "needs 60010 bytes"]),
        ("header_too_long.npy", ["larger than the limit of 10000"]),
        ("not_a_dict.npy", ["expected a dictionary"]),
        ("rank_too_large.npy", ["10 dimensions; at most 8"]),
        ("object_dtype.npy", ["unsupported dtype '|O'", "pickle"]),
        ("complex64.npy", ["unsupported dtype '<c8'", "complex"]),
        ("unicode.npy", ["unsupported dtype '<U2'", "strings"]),
        ("datetime64.npy", ["unsupported dtype '<M8[D]'", "dates"]),
        ("structured.npy", ["unsupported dtype [('x', '<f4'), ('y', '<i4')]", "structured"]),
        ("uint32.npy", ["unsupported dtype '<u4'", "astype(np.int64)"]),
        ("long_double.npy", ["unsupported dtype '<f16'", "long double"]),
        ("x.npy", ["git-lfs pointer"]),
        ("evil_member.npz", ["refusing member '../evil.npy'", "'..'"]),
        ("absolute_member.npz", ["refusing member '/etc/evil.npy'", "absolute"]),
        ("backslash_member.npz", ["refusing member 'dir\\\\evil.npy'", "backslash"]),
        ("duplicate_member.npz", ["member 'a.npy' appears more than once"]),
        ("lying_size_stored.npz", ["member 'weights.npy'", "beyond the 272-byte file"]),
        ("lying_size_deflated.npz", ["member 'weights.npy' declares 136 uncompressed bytes", "more when inflated"]),
        ("bomb.npz", ["declares 4294967280 uncompressed bytes", "1032×"]),
        ("unterminated_deflate.npz", ["ends before the deflate stream does"]),
        ("crc_mismatch.npz", ["fails its CRC-32 check"]),
        ("corrupt_member.npz", ["corrupt_member.npz[weights.npy]", "not a NumPy .npy file"]),
        ("truncated.npz", ["no end-of-central-directory record", "cut short"]),
    ]

    func test_everyMalformedFileThrowsAClearError() throws {
        for (file, fragments) in Self.expectations {
            let path = try NumPyFixtures.malformed(file)
            do {
                if file.hasSuffix(".npz") {
                    _ = try NumPyFile.readArchive(path: path)
                } else {
                    _ = try NumPyFile.readArray(path: path)
                }
                XCTFail("\(file) was accepted")
            } catch {
                let text = error.description
                XCTAssertTrue(text.contains(path), "\(file): message does not name the file: \(text)")
                XCTAssertFalse(text.contains("\n"), "\(file): message is not one line: \(text)")
                for fragment in fragments {
                    XCTAssertTrue(text.contains(fragment), "\(file): expected '\(fragment)' in: \(text)")
                }
            }
        }
    }

    func test_everyMalformedFixtureIsCovered() throws {
        let directory = FixturePaths.fixture("malformed/numpy")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        XCTAssertEqual(names, Self.expectations.map(\.file).sorted())
    }

    /// `modelkit run` sees the same files through InputFile: an error, never a crash.
    func test_I1_inputFileRejectsEveryMalformedFile() throws {
        for (file, _) in Self.expectations {
            XCTAssertThrowsError(try InputFile.read(path: try NumPyFixtures.malformed(file)), file) { error in
                XCTAssertTrue(error is InputFileError, "\(file): \(type(of: error))")
            }
        }
    }

    func test_N3_N7_everyTruncationOfANpyFileThrows() throws {
        for name in ["float32_v1.npy", "float32_v2.npy", "float32_v3.npy", "int64_big_endian.npy", "float32_0d.npy"] {
            let bytes = try FixturePaths.bytes(try NumPyFixtures.path(name))
            MalformedInput.assertEveryTruncationThrows(bytes, boundaries: [6, 8, 10, 12, 128]) { prefix in
                _ = try NumPyFile.readArray(bytes: prefix, source: name)
            }
        }
    }

    func test_Z1_everyTruncationOfAnNpzArchiveThrows() throws {
        for name in ["stored.npz", "deflated.npz", "zip64.npz"] {
            let bytes = try FixturePaths.bytes(try NumPyFixtures.path(name))
            MalformedInput.assertEveryTruncationThrows(bytes, exhaustiveUpTo: bytes.count) { prefix in
                let archive = try ZipArchive(storage: TensorStorage(copying: prefix), path: name)
                for member in archive.members {
                    let contents = try archive.contents(of: member)
                    _ = try NumPyFile.readArray(storage: contents.storage, range: contents.range, source: member.name)
                }
            }
        }
    }

    /// Flipping any single byte of a stored archive is caught (CRC-32, structure checks or the .npy reader) or,
    /// where the byte is not covered by any check (timestamps, padding), still gives numpy's values.
    func test_Z6_singleByteCorruptionOfAnArchiveNeverCrashes() throws {
        let bytes = try FixturePaths.bytes(try NumPyFixtures.path("single.npz"))
        var rejected = 0
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x5A
            do {
                let archive = try ZipArchive(storage: TensorStorage(copying: damaged), path: "single.npz")
                for member in archive.members {
                    let contents = try archive.contents(of: member)
                    _ = try NumPyFile.readArray(storage: contents.storage, range: contents.range, source: member.name)
                }
            } catch {
                rejected += 1
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        // Everything but header fields nobody checks (times, attributes, version bytes, padding) must be caught.
        XCTAssertGreaterThan(rejected, bytes.count * 3 / 4)
    }

    /// Every single-byte change to a .npy file's prefix is rejected or read into a consistent tensor; never a crash.
    func test_N4_singleByteCorruptionOfANpyHeaderNeverCrashes() throws {
        let bytes = try FixturePaths.bytes(try NumPyFixtures.path("float32_3d_fortran.npy"))
        for index in 0..<128 {
            for replacement: UInt8 in [0x00, 0x20, 0x27, 0x28, 0x29, 0x2C, 0x31, 0x3E, 0x7B, 0x7D, 0xFF] {
                var damaged = bytes
                damaged[index] = replacement
                if let tensor = try? NumPyFile.readArray(bytes: damaged) {
                    XCTAssertEqual(tensor.byteCount, bytes.count - 128, "byte \(index) = \(replacement)")
                }
            }
        }
    }

    /// Random header texts built from the characters that matter to the parser: errors, never crashes or hangs.
    func test_N4_randomHeaderTextsNeverCrashTheParser() {
        let alphabet = Array("{}()[]'\",: 0123456789-+.eLTrueFalsNon<>|f4i8b1\\\n")
        var generator = SplitMix64(seed: 7)
        for _ in 0..<3000 {
            let length = Int(generator.next() % 90)
            var text = "{'descr': '<f4', "
            for _ in 0..<length { text.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
            var body = Array(text.utf8)
            body += [UInt8](repeating: 0x20, count: (64 - (body.count + 11) % 64) % 64) + [0x0A]
            let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(body.count & 0xFF), UInt8(body.count >> 8)] + body
            _ = try? NumPyFile.readArray(bytes: bytes + [UInt8](repeating: 0, count: 24))
        }
    }
}
