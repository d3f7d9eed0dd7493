import ModelKitCore

/// Reads comma-separated numbers into a float32 `[rows, columns]` tensor.
///
/// Rules (Specs/interop/numpy.md, "CSV inputs"): fields are separated by commas and may be double-quoted; spaces
/// around a field are ignored; blank lines and lines starting with `#` (np.savetxt's header) are skipped; a first
/// row that is not all numbers is a header and is skipped; every row must have the same number of columns. Numbers
/// are what Swift's `Float(_:)` accepts (decimal, exponent, `nan`, `inf`); a finite number too large for float32 is
/// an error rather than a silent infinity.
///
/// Lines are scanned as bytes; only a line that contains a quote goes through the slower quote-aware splitter.
enum CSVTensorReader {
    private static let newline = UInt8(ascii: "\n")
    private static let comma = UInt8(ascii: ",")
    private static let quote = UInt8(ascii: "\"")

    static func read(_ bytes: UnsafeRawBufferPointer, path: String) throws(InputFileError) -> Tensor {
        try readTable(bytes, path: path).values
    }

    /// The values and, when the first row is a header, its column names.
    static func readTable(_ bytes: UnsafeRawBufferPointer, path: String) throws(InputFileError) -> (values: Tensor, header: [String]?) {
        var header: [String]?
        var values: [Float] = []
        var columns: Int?
        var rows = 0
        var headerLine: Int?
        var firstDataLine = 0
        var lineNumber = 0
        var start = 0
        // A UTF-8 byte order mark (spreadsheet exports) is not part of the first field.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        var fields: [String] = []
        var parsed: [Float] = []
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count && bytes[end] != newline { end += 1 }
            var lineEnd = end
            if lineEnd > start && bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnd])
            start = end + 1
            guard let firstVisible = line.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
                  line[firstVisible] != UInt8(ascii: "#") else { continue }

            fields.removeAll(keepingCapacity: true)
            if line.contains(quote) {
                fields = try splitQuoted(String(decoding: line, as: UTF8.self), path: path, line: lineNumber)
            } else {
                var fieldStart = 0
                for index in 0...line.count where index == line.count || line[index] == comma {
                    fields.append(String(decoding: trimmed(line, fieldStart, index), as: UTF8.self))
                    fieldStart = index + 1
                }
            }
            if let expected = columns, fields.count != expected {
                let reference = headerLine.map { "the header on line \($0)" } ?? "line \(firstDataLine)"
                throw .csv(path: path, line: lineNumber,
                           reason: "\(fields.count) columns, but \(reference) has \(expected); every row needs the same number")
            }
            parsed.removeAll(keepingCapacity: true)
            var firstProblem: (column: Int, field: String, problem: NumberProblem)?
            var hasText = false
            for (index, field) in fields.enumerated() {
                switch number(field) {
                case .success(let value): parsed.append(value)
                case .failure(let problem):
                    if problem == .notANumber { hasText = true }
                    if firstProblem == nil || (firstProblem?.problem != .outOfRange && problem == .outOfRange) {
                        firstProblem = (index + 1, field, problem)
                    }
                }
            }
            if let (column, field, problem) = firstProblem {
                // Only the first row may be a header: one with text in it and no out-of-range number.
                if columns == nil && hasText && problem != .outOfRange {
                    headerLine = lineNumber
                    header = fields
                    columns = fields.count
                    continue
                }
                throw .csv(path: path, line: lineNumber, reason: "column \(column): \(problem.message(field))")
            }
            if rows == 0 { firstDataLine = lineNumber }
            columns = fields.count
            values.append(contentsOf: parsed)
            rows += 1
        }
        guard rows > 0, let width = columns, width > 0 else { throw .empty(path: path) }
        return (Tensor(float32: values, shape: [rows, width]), header)
    }

    /// The bytes of `line[from..<to]` without surrounding spaces and tabs.
    private static func trimmed(_ line: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> UnsafeRawBufferPointer {
        var low = from, high = to
        while low < high && (line[low] == 0x20 || line[low] == 0x09) { low += 1 }
        while high > low && (line[high - 1] == 0x20 || line[high - 1] == 0x09) { high -= 1 }
        return UnsafeRawBufferPointer(rebasing: line[low..<high])
    }

    /// Splits one line at commas, honouring double quotes (a doubled quote inside quotes is a literal quote).
    private static func splitQuoted(_ line: String, path: String, line lineNumber: Int) throws(InputFileError) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var wasQuoted = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            if inQuotes {
                if character == "\"" {
                    // Either the closing quote or the first of a doubled quote.
                    var lookahead = characters
                    if lookahead.next() == "\"" {
                        current.append("\"")
                        characters = lookahead
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "," {
                fields.append(wasQuoted ? current : trimmingSpaces(current))
                current = ""
                wasQuoted = false
            } else if character == "\"" && trimmingSpaces(current).isEmpty && !wasQuoted {
                inQuotes = true
                wasQuoted = true
                current = ""
            } else if wasQuoted {
                guard character == " " || character == "\t" else {
                    throw .csv(path: path, line: lineNumber, reason: "text after a closing quote in column \(fields.count + 1)")
                }
            } else {
                current.append(character)
            }
        }
        guard !inQuotes else { throw .csv(path: path, line: lineNumber, reason: "a quoted field is not closed") }
        fields.append(wasQuoted ? current : trimmingSpaces(current))
        return fields
    }

    /// Why a field is not a float32 number.
    enum NumberProblem: Error {
        case empty, notANumber, outOfRange

        func message(_ field: String) -> String {
            switch self {
            case .empty: "empty value (missing values are not supported; fill them in)"
            case .notANumber: "\(MessageText.quoted(field)) is not a number"
            case .outOfRange: "\(field) is outside the float32 range (±3.4e38)"
            }
        }
    }

    /// Parses a field as a float32 (surrounding spaces are ignored).
    static func number(_ field: String) -> Result<Float, NumberProblem> {
        let text = trimmingSpaces(field)
        guard !text.isEmpty else { return .failure(.empty) }
        guard let value = Float(text) else { return .failure(.notANumber) }
        if value.isInfinite && !text.lowercased().contains("inf") { return .failure(.outOfRange) }
        return .success(value)
    }
}

/// `text` without leading and trailing spaces and tabs.
private func trimmingSpaces(_ text: String) -> String {
    guard let first = text.utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
          let last = text.utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
    return String(text[first...last])
}
