import Foundation
import ModelKitCore
import ModelKitFormat
import ModelKitTestSupport
import XCTest

/// Hostile inputs of issue 8 for ModelKit's own forms that the rule tests (BinaryRulesTests, HeaderRulesTests,
/// JSONFormRulesTests) do not already cover. Specs/security.md maps every threat to its test.
final class HostileInputTests: XCTestCase {
    func assertFailure(_ body: () throws -> Void, mentions fragments: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("the hostile input was accepted", file: file, line: line)
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            for fragment in fragments where !text.contains(fragment) {
                XCTFail("'\(text)' does not mention '\(fragment)'", file: file, line: line)
            }
        }
    }

    /// The JSON form nested 10,000 deep: an error from the parser's depth limit, not a stack overflow.
    func test_jsonFormNested10000DeepIsRefused() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        for document in [deep, #"{"format":"modelkit-json","model":\#(deep)}"#] {
            let bytes = Array(document.utf8)
            assertFailure({ _ = try bytes.withUnsafeBytes { try ModelJSONForm.read(bytes: $0) } }, mentions: ["nesting deeper than"])
        }
    }

    /// A git-lfs pointer or an HTML page under a `.mkit` or `.json` name: `ModelFile.read` says what the file is.
    func test_textFileGivenAsAModelSaysWhatItLooksLike() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        for (source, expected) in [("git-lfs-pointer.bin", "git-lfs pointer"), ("html-page.bin", "HTML page")] {
            let bytes = try FixturePaths.bytes(try FixturePaths.require("malformed/hostile/" + source))
            for name in ["model.mkit", "model.json"] {
                let path = directory + "/" + name
                try FixturePaths.write(bytes, to: path)
                assertFailure({ _ = try ModelFile.read(path: path) }, mentions: [expected])
            }
        }
    }

    /// NaN and ±Inf weights in either form load unchanged, with a note naming the tensor (a warning, not an error).
    func test_nonFiniteWeightsLoadWithANote() throws {
        let directory = try FixturePaths.scratchDirectory(for: self)
        var model = SampleModels.dense([2, 2], finalActivation: nil)
        model.updateTensors { entry in
            if entry.name == "fc1.weight" { entry.tensor = Tensor(float32: [1, .nan, .infinity, -.infinity], shape: [2, 2]) }
        }
        for form in [ModelFile.Form.binary, .json] {
            let path = directory + "/nan." + form.rawValue
            try ModelFile.write(model, to: path, form: form)
            let loaded = try ModelFile.read(path: path)
            XCTAssertEqual(loaded.notes.filter { $0.contains("NaN or infinite") },
                           ["tensor 'fc1.weight' contains NaN or infinite values"], "\(form)")
            let values = try XCTUnwrap(loaded.model.tensors.first { $0.name == "fc1.weight" }).tensor.floatValues()
            XCTAssertTrue(values[1].isNaN)
            XCTAssertEqual(values[2...], [.infinity, -.infinity])
        }
    }

    /// A header holding bytes that are not UTF-8 (Fixtures/malformed/mkit/header-invalid-utf8.mkit, written by
    /// malformed_mkit.py): refused as invalid JSON text before any name is used.
    func test_invalidUTF8InTheHeaderIsRefused() throws {
        let path = try FixturePaths.require("malformed/mkit/header-invalid-utf8.mkit")
        assertFailure({ _ = try ModelFile.read(path: path) }, mentions: ["UTF-8"])
    }
}
