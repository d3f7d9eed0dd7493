/// Names and text read from a file, made safe to put into a one-line error message.
///
/// Every reader quotes what it found (a tensor name, a zip member, a pickle global) so the user can find it. That
/// text comes from the file, so a hostile file could otherwise break a message into several lines, move the cursor
/// with terminal escape sequences, or reorder what the terminal shows with bidirectional controls ("Trojan Source").
/// All of those are shown as escapes instead, and long text is cut short.
package enum MessageText {
    /// `text` with control, line-separator and bidirectional-control characters escaped (`\n`, `\u{1b}`) and the
    /// quote character and backslash escaped, cut to `limit` characters followed by `…`.
    package static func escaped(_ text: String, limit: Int = 120, quote: Character = "'") -> String {
        var output = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                output += "…"
                break
            }
            count += 1
            if scalar == "\\" || Character(scalar) == quote {
                output += "\\" + String(scalar)
            } else {
                appendEscaping(scalar, to: &output)
            }
        }
        return output
    }

    /// `text` as one line: control, line-separator and bidirectional-control characters escaped, nothing else
    /// changed. For whole messages, whose quotes and backslashes are meant.
    package static func oneLine(_ text: String) -> String {
        var output = ""
        for scalar in text.unicodeScalars { appendEscaping(scalar, to: &output) }
        return output
    }

    private static func appendEscaping(_ scalar: Unicode.Scalar, to output: inout String) {
        switch scalar {
        case "\n": output += "\\n"
        case "\r": output += "\\r"
        case "\t": output += "\\t"
        default:
            if needsEscape(scalar) {
                output += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
    }

    /// `'text'`: ``escaped(_:limit:quote:)`` between quotes.
    package static func quoted(_ text: String, limit: Int = 120, quote: Character = "'") -> String {
        String(quote) + escaped(text, limit: limit, quote: quote) + String(quote)
    }

    /// One character read from a file, quoted like a name.
    package static func quoted(_ scalar: Unicode.Scalar) -> String {
        quoted(String(scalar))
    }

    /// C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional embedding,
    /// override and isolate controls.
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00..<0x20, 0x7F..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C:
            return true
        default:
            return false
        }
    }
}

extension MessageText {
    /// A list for messages, `a, b, c and 5 more` once there are more than `limit` items.
    package static func list(_ items: [String], limit: Int = 8) -> String {
        guard items.count > limit else { return items.joined(separator: ", ") }
        return items.prefix(limit).joined(separator: ", ") + " and \(items.count - limit) more"
    }
}
