import ModelKitCore

/// A Python literal as found in a `.npy` header: the subset `ast.literal_eval` accepts that NumPy headers use.
///
/// NumPy reads its header with `ast.literal_eval`; we never evaluate anything. This strict parser knows strings,
/// integers (with Python 2's `L` suffix), `True`/`False`/`None`, tuples, lists and dicts, and keeps each value's
/// source text so errors can quote exactly what the file says.
struct PythonLiteral: Equatable {
    indirect enum Value: Equatable {
        case string(String)
        /// An integer literal's digits with its sign (`"-3"`), not yet converted (it may not fit in `Int`).
        case integer(String)
        /// Any other number (`3.5`, `1e3`): present so that errors can name it.
        case otherNumber(String)
        case boolean(Bool)
        case none
        case tuple([PythonLiteral])
        case list([PythonLiteral])
        case dict([(key: PythonLiteral, value: PythonLiteral)])

        static func == (lhs: Value, rhs: Value) -> Bool {
            switch (lhs, rhs) {
            case (.string(let a), .string(let b)), (.integer(let a), .integer(let b)), (.otherNumber(let a), .otherNumber(let b)):
                return a == b
            case (.boolean(let a), .boolean(let b)): return a == b
            case (.none, .none): return true
            case (.tuple(let a), .tuple(let b)), (.list(let a), .list(let b)): return a == b
            case (.dict(let a), .dict(let b)):
                return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            default: return false
            }
        }
    }

    let value: Value
    /// The literal exactly as written in the header.
    let text: String

    /// A failure to parse, with the character offset into the header text.
    struct ParseError: Error, Equatable {
        let offset: Int
        let reason: String
    }

    /// Parses `text` as exactly one literal followed only by white space.
    static func parse(_ text: String, maximumDepth: Int = 16) throws(ParseError) -> PythonLiteral {
        var parser = Parser(scalars: Array(text.unicodeScalars), maximumDepth: maximumDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.scalars.count else {
            throw ParseError(offset: parser.position, reason: "unexpected text after the dictionary")
        }
        return value
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        let maximumDepth: Int
        var position = 0

        var current: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

        mutating func skipWhitespace() {
            while let scalar = current, scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" { position += 1 }
        }

        func text(from start: Int) -> String {
            var result = String.UnicodeScalarView()
            result.append(contentsOf: scalars[start..<position])
            return String(result)
        }

        mutating func parseValue(depth: Int) throws(ParseError) -> PythonLiteral {
            guard depth < maximumDepth else { throw ParseError(offset: position, reason: "nested more than \(maximumDepth) deep") }
            guard let scalar = current else { throw ParseError(offset: position, reason: "the header ends where a value was expected") }
            let start = position
            let value: Value
            switch scalar {
            case "'", "\"": value = .string(try parseString(quote: scalar))
            case "(": value = .tuple(try parseSequence(close: ")", depth: depth))
            case "[": value = .list(try parseSequence(close: "]", depth: depth))
            case "{": value = try parseDict(depth: depth)
            case "-", "+", "0"..."9", ".": value = parseNumber()
            default:
                let word = parseWord()
                switch word {
                case "True": value = .boolean(true)
                case "False": value = .boolean(false)
                case "None": value = .none
                case "": throw ParseError(offset: start, reason: "unexpected character \(MessageText.quoted(scalar))")
                default: throw ParseError(offset: start, reason: "\(MessageText.quoted(word)) is not a literal (only strings, numbers, True, False, None)")
                }
            }
            return PythonLiteral(value: value, text: text(from: start))
        }

        /// A quoted string with the escapes a dtype name could need; anything unusual is refused, not guessed.
        mutating func parseString(quote: Unicode.Scalar) throws(ParseError) -> String {
            let start = position
            position += 1
            var result = String.UnicodeScalarView()
            while let scalar = current {
                position += 1
                if scalar == quote { return String(result) }
                if scalar == "\n" { break }
                if scalar == "\\" {
                    guard let escaped = current else { break }
                    position += 1
                    switch escaped {
                    case "\\", "'", "\"": result.append(escaped)
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    default: throw ParseError(offset: position - 2, reason: "unsupported escape '\\\(escaped)' in a string")
                    }
                } else {
                    result.append(scalar)
                }
            }
            throw ParseError(offset: start, reason: "unterminated string")
        }

        mutating func parseSequence(close: Unicode.Scalar, depth: Int) throws(ParseError) -> [PythonLiteral] {
            let start = position
            position += 1
            var items: [PythonLiteral] = []
            while true {
                skipWhitespace()
                guard let scalar = current else { throw ParseError(offset: start, reason: "unterminated '\(scalars[start])'") }
                if scalar == close { position += 1; return items }
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard let next = current else { throw ParseError(offset: start, reason: "unterminated '\(scalars[start])'") }
                if next == "," { position += 1; continue }
                guard next == close else { throw ParseError(offset: position, reason: "expected ',' or \(MessageText.quoted(close)), found \(MessageText.quoted(next))") }
            }
        }

        mutating func parseDict(depth: Int) throws(ParseError) -> Value {
            let start = position
            position += 1
            var pairs: [(key: PythonLiteral, value: PythonLiteral)] = []
            while true {
                skipWhitespace()
                guard let scalar = current else { throw ParseError(offset: start, reason: "unterminated dictionary: no closing '}'") }
                if scalar == "}" { position += 1; return .dict(pairs) }
                let key = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard current == ":" else { throw ParseError(offset: position, reason: "expected ':' after the key \(key.text)") }
                position += 1
                skipWhitespace()
                let value = try parseValue(depth: depth + 1)
                pairs.append((key, value))
                skipWhitespace()
                guard let next = current else { throw ParseError(offset: start, reason: "unterminated dictionary: no closing '}'") }
                if next == "," { position += 1; continue }
                guard next == "}" else { throw ParseError(offset: position, reason: "expected ',' or '}', found \(MessageText.quoted(next))") }
            }
        }

        /// Numbers: an optional sign and digits (optionally `L`) make an integer; any other number-like run is kept
        /// as text so the caller can say that, for example, `3.5` is not a valid dimension.
        mutating func parseNumber() -> Value {
            let start = position
            if current == "-" || current == "+" { position += 1 }
            let digitsStart = position
            while let scalar = current, ("0"..."9").contains(scalar) { position += 1 }
            let digitsEnd = position
            if digitsEnd > digitsStart, current == "L" || current == "l" {
                position += 1
                if !isNumberContinuation(current) {
                    var text = text(from: start)
                    text.removeLast()
                    return .integer(text)
                }
            }
            if digitsEnd > digitsStart, !isNumberContinuation(current) { return .integer(text(from: start)) }
            while isNumberContinuation(current) { position += 1 }
            return .otherNumber(text(from: start))
        }

        func isNumberContinuation(_ scalar: Unicode.Scalar?) -> Bool {
            guard let scalar else { return false }
            return scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "." || scalar == "_"
                || ((scalar == "+" || scalar == "-") && position > 0 && (scalars[position - 1] == "e" || scalars[position - 1] == "E"))
        }

        mutating func parseWord() -> String {
            let start = position
            while let scalar = current, scalar.properties.isAlphabetic || scalar == "_" || ("0"..."9").contains(scalar) { position += 1 }
            return text(from: start)
        }
    }
}
