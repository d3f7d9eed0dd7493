import ModelKitCore
import XCTest

/// Text from a file must not be able to break an error message into lines or drive the terminal (Specs/security.md).
final class MessageTextTests: XCTestCase {
    func test_controlCharactersAreEscaped() {
        XCTAssertEqual(MessageText.quoted("a\nb\rc\td"), "'a\\nb\\rc\\td'")
        XCTAssertEqual(MessageText.quoted("\u{1b}[2J\u{0}\u{7f}\u{85}"), "'\\u{1b}[2J\\u{0}\\u{7f}\\u{85}'")
    }

    func test_bidirectionalControlsAndLineSeparatorsAreEscaped() {
        // "Trojan Source": U+202E would make the terminal show the rest of the line reversed.
        XCTAssertEqual(MessageText.quoted("evil\u{202E}txt.exe"), "'evil\\u{202e}txt.exe'")
        XCTAssertEqual(MessageText.quoted("a\u{2028}b\u{2029}c\u{2066}d\u{200F}"), "'a\\u{2028}b\\u{2029}c\\u{2066}d\\u{200f}'")
    }

    func test_quoteAndBackslashAreEscapedSoTheQuotedTextIsUnambiguous() {
        XCTAssertEqual(MessageText.quoted("it's a\\b"), "'it\\'s a\\\\b'")
        XCTAssertEqual(MessageText.quoted("say \"hi\"", quote: "\""), "\"say \\\"hi\\\"\"")
    }

    func test_ordinaryNamesAreUnchanged() {
        XCTAssertEqual(MessageText.quoted("fc1.weight"), "'fc1.weight'")
        XCTAssertEqual(MessageText.quoted("Gewichte/Schicht-1 ünd 重み"), "'Gewichte/Schicht-1 ünd 重み'")
    }

    func test_longTextIsCutAtTheLimit() {
        let shown = MessageText.quoted(String(repeating: "x", count: 500))
        XCTAssertEqual(shown, "'" + String(repeating: "x", count: 120) + "…'")
        XCTAssertEqual(MessageText.quoted("abcdef", limit: 3), "'abc…'")
        XCTAssertEqual(MessageText.quoted("abc", limit: 3), "'abc'")
    }

    func test_oneLineKeepsQuotesAndBackslashesButEscapesControls() {
        XCTAssertEqual(MessageText.oneLine("file.npy: dtype '<f4' \\x93\nnext\u{1b}"), "file.npy: dtype '<f4' \\x93\\nnext\\u{1b}")
    }

    func test_listIsShortenedAfterTheLimit() {
        XCTAssertEqual(MessageText.list(["a", "b"]), "a, b")
        XCTAssertEqual(MessageText.list((1...10).map(String.init), limit: 3), "1, 2, 3 and 7 more")
    }
}
