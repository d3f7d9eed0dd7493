import ModelKitCore

/// An error's message made safe for a terminal: one line, control and bidirectional-control characters escaped.
///
/// Readers already quote the names they found with `MessageText`; this is the last line of defence for text that
/// reaches a message some other way (a path, a library's own message).
struct OneLineError: Error, CustomStringConvertible {
    let description: String

    init(_ error: any Error) {
        description = Self.sanitized(String(describing: error))
    }

    /// `message` with trailing newlines dropped and every other control character escaped.
    static func sanitized(_ message: String) -> String {
        var trimmed = Substring(message)
        while let last = trimmed.last, last.isNewline { trimmed = trimmed.dropLast() }
        return MessageText.oneLine(String(trimmed))
    }
}
