/// Writes ``JSONValue``s as text: compact, or indented with short scalar arrays packed several to a line.
public struct JSONWriter: Sendable {
    /// Indentation per level; `nil` writes everything on one line.
    public var indent: Int?
    /// In indented output, the widest line a packed array of scalars may make.
    public var lineWidth: Int

    public init(indent: Int? = nil, lineWidth: Int = 118) {
        self.indent = indent
        self.lineWidth = lineWidth
    }

    /// The text of `value`.
    public func string(_ value: JSONValue) -> String {
        var output = ""
        write(value, level: 0, into: &output)
        return output
    }

    /// The UTF-8 bytes of `value`.
    public func bytes(_ value: JSONValue) -> [UInt8] { Array(string(value).utf8) }

    private func write(_ value: JSONValue, level: Int, into output: inout String) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let text): output += text
        case .string(let text): JSONWriter.appendQuoted(text, to: &output)
        case .array(let array): writeArray(array, level: level, into: &output)
        case .object(let object): writeObject(object, level: level, into: &output)
        }
    }

    private func newline(_ level: Int, into output: inout String) {
        guard let indent else { return }
        output += "\n" + String(repeating: " ", count: indent * level)
    }

    private func writeObject(_ object: JSONObject, level: Int, into output: inout String) {
        guard !object.isEmpty else { output += "{}"; return }
        output += "{"
        var first = true
        for (key, member) in object {
            if !first { output += "," }
            first = false
            newline(level + 1, into: &output)
            JSONWriter.appendQuoted(key, to: &output)
            output += indent == nil ? ":" : ": "
            write(member, level: level + 1, into: &output)
        }
        newline(level, into: &output)
        output += "}"
    }

    private func writeArray(_ array: [JSONValue], level: Int, into output: inout String) {
        guard !array.isEmpty else { output += "[]"; return }
        let scalarsOnly = array.allSatisfy { if case .array = $0 { false } else if case .object = $0 { false } else { true } }
        guard let indent, !scalarsOnly || array.count > 8 else {
            // Compact: either no indentation at all, or a short list of scalars that reads best on one line.
            output += "["
            for (index, element) in array.enumerated() {
                if index > 0 { output += indent == nil ? "," : ", " }
                write(element, level: level + 1, into: &output)
            }
            output += "]"
            return
        }
        output += "["
        if scalarsOnly {
            // Long scalar arrays (tensor values) are packed to the line width so diffs stay readable.
            let margin = indent * (level + 1)
            var lineLength = margin
            for (index, element) in array.enumerated() {
                var text = ""
                write(element, level: 0, into: &text)
                if index == 0 || lineLength + text.count + 2 > lineWidth {
                    if index > 0 { output += "," }
                    newline(level + 1, into: &output)
                    lineLength = margin
                } else {
                    output += ", "
                }
                output += text
                lineLength += text.count + 2
            }
        } else {
            for (index, element) in array.enumerated() {
                if index > 0 { output += "," }
                newline(level + 1, into: &output)
                write(element, level: level + 1, into: &output)
            }
        }
        newline(level, into: &output)
        output += "]"
    }

    /// Appends `text` as a JSON string literal, escaping what RFC 8259 requires.
    public static func appendQuoted(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
