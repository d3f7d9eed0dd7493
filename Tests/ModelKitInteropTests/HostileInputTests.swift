import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// The hostile inputs of issue 8 that no reader's own malformed corpus covers (Specs/security.md maps every threat
/// to its test). Files come from Fixtures/malformed/hostile/ (written by Fixtures/generate/hostile_inputs.py) or are
/// built here when a few bytes say it better.
final class HostileInputTests: XCTestCase {
    static func hostile(_ name: String) throws -> String { try FixturePaths.require("malformed/hostile/" + name) }

    /// `body`'s error, after checking that it threw a one-line message.
    func failure(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("the hostile input was accepted", file: file, line: line)
            return ""
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            return text
        }
    }

    func assertFailure(_ body: () throws -> Void, mentions fragments: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        let text = failure(body, file: file, line: line)
        for fragment in fragments where !text.contains(fragment) {
            XCTFail("'\(text)' does not mention '\(fragment)'", file: file, line: line)
        }
    }

    // MARK: - Text files given as models

    /// A git-lfs pointer (a clone without `git lfs pull`) or an HTML page (a download behind a login) saved under a
    /// model's name: every reader says what the file really is instead of a parse error from the middle of it.
    func test_textFileGivenAsAModelSaysWhatItLooksLike() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let readers: [(fileExtension: String, read: (String) throws -> Void)] = [
            ("safetensors", { _ = try SafetensorsFormat.readTensors(path: $0) }),
            ("onnx", { _ = try ONNXFormat.read(path: $0) }),
            ("pt", { _ = try PyTorchFormat.readStateDict(path: $0) }),
            ("npy", { _ = try NumPyFile.readArray(path: $0) }),
            ("npz", { _ = try NumPyFile.readArchive(path: $0) }),
            ("gguf", { _ = try GGUFFormat.readContents(path: $0) }),
        ]
        for (source, expected) in [("git-lfs-pointer.bin", "git-lfs pointer"), ("html-page.bin", "HTML page")] {
            let bytes = try FixturePaths.bytes(try Self.hostile(source))
            for reader in readers {
                let path = directory + "/model." + reader.fileExtension
                try FixturePaths.write(bytes, to: path)
                let text = failure { try reader.read(path) }
                XCTAssertTrue(text.contains(expected), "\(reader.fileExtension) reader on \(source): \(text)")
            }
        }
    }

    // MARK: - Zip archives

    /// A symlink entry is never followed: ModelKit reads members in memory and never writes them to disk, so the
    /// link's target is just the member's bytes (`/etc/passwd`, which is not an array), and the file it names is
    /// never opened. The archive's other arrays stay readable by name.
    func test_zipSymlinkEntryIsReadAsItsBytesNeverFollowed() throws {
        let path = try Self.hostile("symlink-member.npz")
        let text = failure { _ = try NumPyFile.readArchive(path: path) }
        XCTAssertTrue(text.contains("[weights.npy]"), text)
        XCTAssertTrue(text.contains("not a NumPy .npy file"), text)
        XCTAssertFalse(text.contains("root:"), "the link target was read: \(text)")
        let good = try NumPyFile.readArchiveArray(path: path, named: "good")
        XCTAssertEqual(good.shape.dimensions, [2, 3])
    }

    /// A member name that claims to be UTF-8 but is not is refused by name (escaped), before any data is read.
    func test_zipMemberNameWithInvalidUTF8IsRefused() throws {
        let path = try Self.hostile("invalid-utf8-member-name.npz")
        assertFailure({ _ = try ZipArchive.open(path) }, mentions: ["UTF-8"])
        assertFailure({ _ = try NumPyFile.readArchive(path: path) }, mentions: ["UTF-8"])
    }

    /// A member name with a screen clear, a title change, a newline and a right-to-left override is refused, and
    /// the message shows the name escaped (Specs/security.md, "terminal escapes").
    func test_zipMemberNameWithTerminalEscapesIsRefusedEscaped() throws {
        let path = try Self.hostile("terminal-escape-member-name.npz")
        let text = failure { _ = try NumPyFile.readArchive(path: path) }
        XCTAssertTrue(text.contains("'\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\nfake line\\u{202e}evil.npy'"), text)
        XCTAssertFalse(text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202E }, text)
    }

    /// The same names inside a valid safetensors file are data, not an attack on us: they load unchanged.
    func test_tensorNamesWithTerminalEscapesLoadUnchanged() throws {
        let contents = try SafetensorsFormat.readTensors(path: try Self.hostile("terminal-escape-names.safetensors"))
        XCTAssertEqual(Set(contents.tensors.map(\.name)), ["fc\u{1b}[2J\u{1b}]0;pwned\u{7}\nfake line\u{202e}evil.weight", "bias\r\u{0}"])
    }

    /// A zip64 directory claiming 2^40 members in a 348-byte file fails on the count, before any allocation.
    func test_zipClaiming2to40MembersFailsBeforeAllocating() throws {
        let path = try Self.hostile("member-count-2-to-40.npz")
        let text = failure { _ = try NumPyFile.readArchive(path: path) }
        XCTAssertTrue(text.contains("1099511627776"), text)
        // The count is refused from the directory alone: no member (or allocation) is ever made for it.
    }

    // MARK: - JSON nested 10,000 deep

    static let deepJSON = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)

    /// Every JSON document a user can hand us (the `--arch` list, a `run` input, a sharded checkpoint's index, a
    /// safetensors header) refuses 10,000 levels of nesting with an error instead of overflowing the stack.
    func test_jsonNested10000DeepIsRefusedByEveryJSONReader() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let deep = Self.deepJSON
        assertFailure({ _ = try Architecture.fromArgument(deep) }, mentions: ["nesting"])
        assertFailure({ _ = try Architecture(jsonText: #"[{"type":"dense","in":2,"out":2,"x":\#(deep)}]"#) },
                      mentions: ["nesting"])

        let input = directory + "/input.json"
        try FixturePaths.write(Array(deep.utf8), to: input)
        assertFailure({ _ = try InputFile.read(path: input) }, mentions: ["nesting"])

        let index = directory + "/model.safetensors.index.json"
        try FixturePaths.write(Array(#"{"metadata":{"x":\#(deep)},"weight_map":{}}"#.utf8), to: index)
        assertFailure({ _ = try SafetensorsFormat.readTensors(path: index) }, mentions: ["nesting"])

        let header = Array(#"{"__metadata__":\#(deep)}"#.utf8)
        let file = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        assertFailure({ _ = try SafetensorsFormat.readTensors(storage: TensorStorage(copying: file), name: "deep.safetensors") },
                      mentions: ["nesting"])
    }

    // MARK: - Huge claims

    /// A pickle string claiming 2^60 bytes (BINUNICODE8) is a truncation error, not an allocation.
    func test_pickleClaiming2to60BytesIsTruncationNotAllocation() throws {
        let pickle: [UInt8] = [0x80, 0x04, 0x8D] + withUnsafeBytes(of: (UInt64(1) << 60).littleEndian, Array.init) + [0x2E]
        let text = failure {
            _ = try pickle.withUnsafeBytes { raw in
                try RestrictedUnpickler.load(raw, source: "huge.pkl", allowsStorages: false)
            }
        }
        XCTAssertTrue(text.contains("1152921504606846976"), text)
    }

    // MARK: - Non-finite weights

    /// NaN and ±Inf weights load (they are the user's numbers) with a note naming the tensor: a warning, not an
    /// error.
    func test_nonFiniteWeightsLoadWithANote() throws {
        let path = try Self.hostile("non-finite-weights.safetensors")
        let loaded = try SafetensorsFormat.read(path: path, architecture: try Architecture(parsing: "linear(2,2)"))
        XCTAssertTrue(loaded.notes.contains { $0.contains("'0.weight'") && $0.contains("NaN or infinite") }, "\(loaded.notes)")
        XCTAssertFalse(loaded.notes.contains { $0.contains("'0.bias'") }, "\(loaded.notes)")
        let values = try XCTUnwrap(loaded.model.tensors.first { $0.name == "0.weight" }).tensor.floatValues()
        XCTAssertTrue(values[1].isNaN)
        XCTAssertEqual(values.filter(\.isInfinite).count, 2)
    }

    // MARK: - Invalid UTF-8 names

    /// An ONNX string field (here `producer_name`) that is not UTF-8 is a corrupt file, said in one line.
    func test_onnxStringWithInvalidUTF8IsRefused() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        let path = directory + "/bad-utf8.onnx"
        // ir_version 8, producer_name = FF FE, graph {}.
        try FixturePaths.write([0x08, 0x08, 0x12, 0x02, 0xFF, 0xFE, 0x3A, 0x00], to: path)
        assertFailure({ _ = try ONNXFormat.summary(path: path) }, mentions: ["invalid UTF-8"])
    }
}
