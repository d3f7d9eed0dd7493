import ModelKitCore
import ModelKitFormat
import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Damaged and hostile inputs: one clean one-line error each, never a crash, never an allocation from a claimed size.
final class SafetensorsMalformedTests: XCTestCase {
    func test_S1_to_S12_malformedCorpus() throws {
        let folder = try FixturePaths.require("malformed/safetensors")
        let expected = try JSONValue.parse(try FixturePaths.bytes(folder + "/EXPECTED.json"))
        let files = try XCTUnwrap(expected["files"]?.objectValue)
        XCTAssertGreaterThanOrEqual(files.count, 40)
        for (relative, facts) in files {
            let path = folder + "/" + relative
            XCTAssertThrowsError(try SafetensorsFormat.readTensors(path: path), relative) { error in
                guard let error = error as? SafetensorsError else { return XCTFail("\(relative): \(type(of: error)) \(error)") }
                let text = error.description
                XCTAssertEqual(error.kind.rawValue, facts["kind"]?.stringValue, "\(relative): \(text)")
                XCTAssertTrue(text.contains(facts["message_contains"]?.stringValue ?? "?"), "\(relative): \(text)")
                XCTAssertFalse(text.contains("\n"), "\(relative): \(text)")
                XCTAssertTrue(text.hasPrefix(folder), "\(relative): the message names the file: \(text)")
            }
        }
        // Every file in the folder is in EXPECTED.json, so none is left untested.
        let listed = Set(files.keys)
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let name = enumerator?.nextObject() as? String {
            if name.hasSuffix(".safetensors") && !name.contains("/") || name.hasSuffix("index.json") {
                XCTAssertTrue(listed.contains(name), "\(name) is not listed in EXPECTED.json")
            }
        }
    }

    func test_S2_S8_everyTruncationOfAValidFileThrows() throws {
        for fixture in ["models/safetensors/all_dtypes.safetensors", "models/safetensors/sharded/model-00001-of-00002.safetensors"] {
            let bytes = try FixturePaths.bytes(try FixturePaths.require(fixture))
            let headerEnd = 8 + bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
            MalformedInput.assertEveryTruncationThrows(bytes, boundaries: [8, headerEnd, bytes.count - 1]) { prefix in
                _ = try SafetensorsFormat.readTensors(storage: TensorStorage(copying: prefix), name: "prefix")
            }
        }
    }

    func test_S3_singleByteCorruptionOfTheHeaderNeverCrashes() throws {
        // A cheap fuzz pass over the header: flipping any single header byte must never trap.
        let bytes = try FixturePaths.bytes(try FixturePaths.require("models/safetensors/all_dtypes.safetensors"))
        let headerEnd = 8 + bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        var generator = SplitMix64(seed: 7)
        for position in 0..<headerEnd {
            var damaged = bytes
            damaged[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            do {
                _ = try SafetensorsFormat.readTensors(storage: TensorStorage(copying: damaged), name: "fuzz")
            } catch {
                // readTensors throws only SafetensorsError (typed throws).
                XCTAssertFalse(error.description.contains("\n"))
            }
        }
    }

    func test_S2_S7_hugeClaimsFailFast() throws {
        // Header sizes and offsets near the limits of UInt64: each refused from the numbers alone.
        let cases: [[UInt8]] = [
            SafetensorsBytes.file(header: "{}", data: [], size: UInt64.max),
            SafetensorsBytes.file(header: "{}", data: [], size: 1 << 63),
            SafetensorsBytes.file(header: "{}", data: [], size: 100_000_000),
            SafetensorsBytes.file(header: #"{"a":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}}"#, data: [1]),
            SafetensorsBytes.file(header: #"{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}"#, data: [1]),
        ]
        for bytes in cases {
            XCTAssertThrowsError(try SafetensorsFormat.readTensors(storage: TensorStorage(copying: bytes), name: "claim")) { error in
                XCTAssertTrue(error is SafetensorsError, "\(error)")
            }
        }
    }

    func test_S1_smallHeaderSizesThatLookLikeOtherFormatsStillRead() throws {
        // A header of 640 bytes starts the file with 0x80 0x02, which is also how a pickle starts.
        var header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        header += String(repeating: " ", count: 640 - header.utf8.count)
        let bytes = SafetensorsBytes.file(header: header, data: [9])
        XCTAssertEqual(Array(bytes.prefix(2)), [0x80, 0x02])
        let (tensors, _) = try SafetensorsFormat.readTensors(storage: TensorStorage(copying: bytes), name: "pickle-like")
        XCTAssertEqual(tensors.first?.tensor.integerElement(at: 0), 9)
    }

    func test_S1_missingFile() {
        XCTAssertThrowsError(try SafetensorsFormat.readTensors(path: "/nonexistent/model.safetensors")) { error in
            XCTAssertEqual((error as? SafetensorsError)?.kind, .io)
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/model.safetensors: cannot open"), "\(error)")
        }
    }
}
