import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Damaged and hostile GGUF files: each is a clean one-line error, never a crash or a huge allocation.
final class GGUFMalformedTests: XCTestCase {
    /// What each file of Fixtures/malformed/gguf must say (a part of the one-line error).
    static let expectedErrors: [String: String] = [
        "empty.gguf": "not a GGUF file: it does not start with 'GGUF' (it looks like empty file)",
        "bad-magic.gguf": "not a GGUF file",
        "html-page.gguf": "(it looks like HTML page",
        "version-0.gguf": "GGUF version 0 is not supported",
        "version-1.gguf": "GGUF version 1 is not supported: GGUF v1 (before August 2023)",
        "version-4.gguf": "GGUF version 4 is not supported",
        "big-endian.gguf": "GGUF version 3 is not supported: the file is big-endian",
        "truncated-in-magic.gguf": "truncated in the magic",
        "truncated-in-version.gguf": "truncated in the version field",
        "truncated-in-counts.gguf": "truncated in the tensor count",
        "truncated-in-metadata-key.gguf": "truncated in metadata entry 0 key:",
        "truncated-in-metadata-value.gguf": "truncated in metadata 'general.architecture' value:",
        "truncated-in-tensor-info.gguf": "truncated in tensor info 0 name length:",
        "truncated-in-tensor-dims.gguf": "truncated in tensor 'w' dimension 0",
        "truncated-at-data.gguf": "truncated in tensor 'w' data (F32 [2, 3])",
        "truncated-in-tensor-data.gguf": "truncated in tensor 'w' data",
        "truncated-in-last-tensor.gguf": "truncated in tensor 'b' data",
        "tensor-count-2-to-40.gguf": "the tensor count at offset 8 is 1099511627776",
        "metadata-count-2-to-60.gguf": "the metadata count at offset 16 is 1152921504606846976",
        "metadata-count-2-to-64-minus-1.gguf": "the metadata count at offset 16 is 18446744073709551615",
        "key-length-2-to-60.gguf": "metadata entry 0 key length at offset 24 is 1152921504606846976",
        "string-length-2-to-60.gguf": "metadata 'general.architecture' value length at offset 56 is 1152921504606846976",
        "array-count-2-to-50.gguf": "metadata 'test.array' array count at offset",
        "string-array-count-2-to-50.gguf": "metadata 'test.array' array count at offset",
        "nested-arrays-100-deep.gguf": "arrays nest more than 8 levels deep",
        "unknown-value-type.gguf": "metadata 'test.bad' at offset",
        "unknown-array-element-type.gguf": "unknown array element type 99",
        "invalid-utf8-key.gguf": "metadata entry 2 at offset",
        "invalid-utf8-string.gguf": "metadata 'test.text' at offset",
        "duplicate-key.gguf": "metadata 'general.name' at offset",
        "bool-value-2.gguf": "BOOL value 2 is neither 0 nor 1",
        "alignment-zero.gguf": "general.alignment is 0 (UINT32)",
        "alignment-48.gguf": "general.alignment is 48 (UINT32)",
        "alignment-uint64.gguf": "general.alignment is 32 (UINT64)",
        "tensor-misaligned-offset.gguf": "tensor 'b': offset 24 is not a multiple of the alignment 32",
        "tensor-offset-past-end.gguf": "tensor 'b': offset 4096 lies past the end of the data section",
        "tensor-offset-2-to-63.gguf": "offset 9223372036854775808 is beyond any file",
        "tensor-overlap.gguf": "overlap those of tensor 'w' [0, 36)",
        "tensor-duplicate-name.gguf": "tensor info 1 'w': duplicate tensor name",
        "tensor-empty-name.gguf": "the name is empty",
        "tensor-5-dimensions.gguf": "has 5 dimensions; GGUF (ggml) allows at most 4",
        "tensor-dimension-count-2-to-31.gguf": "has 2147483648 dimensions",
        "tensor-element-count-overflow.gguf": "the element count overflows 64 bits",
        "tensor-byte-count-overflow.gguf": "need more bytes than fit in 64 bits",
        "tensor-huge-claims-2-to-40-bytes.gguf": "truncated in tensor 'b' data (F32 [274877906944]): needs 1099511627776 bytes",
        "tensor-q8-row-not-multiple-of-32.gguf": "blocks of 32 elements, but a row (the first dimension) has 30",
        "tensor-invalid-utf8-name.gguf": "tensor info 1 '#1': the name is not valid UTF-8",
    ]

    /// Every file of the corpus is listed above, reads to its error, and the undamaged base reads.
    func test_G3_malformedCorpus() throws {
        let descriptions = try XCTUnwrap(try GGUFFixtures.json(try GGUFFixtures.malformed("malformed.json")).objectValue)
        XCTAssertEqual(Set(descriptions.keys), Set(Self.expectedErrors.keys).union(["valid-base.gguf"]),
                       "malformed.json and the expectations list different files")
        for (name, expected) in Self.expectedErrors.sorted(by: { $0.key < $1.key }) {
            let path = try GGUFFixtures.malformed(name)
            XCTAssertThrowsError(try GGUFFormat.readContents(path: path), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(expected), "\(name): expected '\(expected)' in: \(text)")
                XCTAssertTrue(text.hasPrefix(path + ": "), "\(name): the error must name the file: \(text)")
                XCTAssertFalse(text.contains("\n"), "\(name): not one line: \(text)")
            }
        }
        let base = try GGUFFormat.readContents(path: try GGUFFixtures.malformed("valid-base.gguf"))
        XCTAssertEqual(base.tensors.map(\.tensor.shape), [[2, 3], [2]])
        XCTAssertEqual(base.tensors[0].tensor.floatValues(), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(base.tensors[1].tensor.floatValues(), [0.5, -0.5])
    }

    /// Distinguishes "not GGUF", "truncated" and "corrupt" by case, not only by text.
    func test_G1_errorKindsDistinguishNotGGUFTruncatedCorrupt() throws {
        func error(_ name: String) throws -> GGUFError {
            do { _ = try GGUFFormat.readContents(path: try GGUFFixtures.malformed(name)) } catch let error as GGUFError { return error }
            throw XCTSkip("\(name) was accepted")
        }
        guard case .notGGUF = try error("bad-magic.gguf") else { return XCTFail("bad magic") }
        guard case .unsupportedVersion(_, 1, _) = try error("version-1.gguf") else { return XCTFail("version 1") }
        guard case .truncated = try error("truncated-in-tensor-data.gguf") else { return XCTFail("truncated") }
        guard case .implausibleCount(_, _, _, 1 << 40, _) = try error("tensor-count-2-to-40.gguf") else { return XCTFail("count") }
        guard case .invalidDataLayout = try error("tensor-overlap.gguf") else { return XCTFail("overlap") }
        guard case .invalidAlignment = try error("alignment-48.gguf") else { return XCTFail("alignment") }
        guard case .invalidMetadata = try error("unknown-value-type.gguf") else { return XCTFail("value type") }
    }

    /// Every prefix of valid files (up to the end of the last tensor's bytes) is refused, by the header reader too.
    func test_G7_everyTruncationThrows() throws {
        for name in ["quantized.gguf", "llm_like.gguf", "dtypes.gguf"] {
            let bytes = try FixturePaths.bytes(try GGUFFixtures.model(name))
            let header = try GGUFFormat.readHeader(bytes: bytes)
            let end = header.tensors.map { $0.fileOffset + ($0.byteCount ?? 0) }.max() ?? bytes.count
            let boundaries = header.tensors.flatMap { [$0.fileOffset, $0.fileOffset + ($0.byteCount ?? 0)] } + [header.dataOffset]
            MalformedInput.assertEveryTruncationThrows(Array(bytes.prefix(end)), boundaries: boundaries, exhaustiveUpTo: 2048) { prefix in
                _ = try GGUFFormat.readHeader(bytes: prefix, source: name)
            }
        }
    }

    /// Random byte damage in the header of valid files: every result is a value or a thrown error, never a crash.
    func test_G3_randomCorruptionNeverCrashes() throws {
        var generator = SplitMix64(seed: 2025)
        var errors = 0, accepted = 0
        for name in ["metadata_types.gguf", "quantized.gguf", "llm_like.gguf", "dtypes.gguf"] {
            let original = try FixturePaths.bytes(try GGUFFixtures.model(name))
            let headerEnd = try GGUFFormat.readHeader(bytes: original).dataOffset
            for _ in 0..<400 {
                var bytes = original
                for _ in 0..<Int(generator.next() % 4 + 1) {
                    let index = Int(generator.next() % UInt64(min(headerEnd, bytes.count)))
                    bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                }
                do {
                    _ = try GGUFFormat.readContents(storage: TensorStorage(copying: bytes), source: name)
                    accepted += 1
                } catch {
                    errors += 1
                    XCTAssertFalse("\(error)".contains("\n"), "\(error)")
                }
            }
        }
        XCTAssertGreaterThan(errors, 100, "the damage should be detected most of the time (accepted \(accepted))")
    }

    /// Hostile counts built in memory: the reader refuses them before allocating (2^62 strings would be 2^65 bytes).
    func test_G3_hostileCountsAreRefusedBeforeAllocation() throws {
        let architecture = GGUFBytes.entry("general.architecture", .string, GGUFBytes.string("x"))
        let hostile: [[UInt8]] = [
            GGUFBytes.file(entries: [architecture], infos: [], data: [], tensorCount: 1 << 62),
            GGUFBytes.file(entries: [architecture], infos: [], data: [], entryCount: .max),
            GGUFBytes.file(entries: [GGUFBytes.entry("a", .array, GGUFBytes.u32(GGUFValueType.array.rawValue) + GGUFBytes.u64(1 << 62))], infos: [], data: []),
            GGUFBytes.file(entries: [GGUFBytes.entry("a", .array, GGUFBytes.u32(GGUFValueType.uint64.rawValue) + GGUFBytes.u64(.max))], infos: [], data: []),
            GGUFBytes.file(entries: [GGUFBytes.entry("a", .string, GGUFBytes.u64(.max))], infos: [], data: []),
        ]
        for bytes in hostile {
            XCTAssertThrowsError(try GGUFFormat.readHeader(bytes: bytes)) { error in
                guard case GGUFError.implausibleCount = error else { return XCTFail("\(error)") }
            }
        }
    }
}
