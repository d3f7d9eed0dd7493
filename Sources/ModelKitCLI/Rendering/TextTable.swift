import ModelKitCore

/// Renders rows as aligned columns (the first row is the heading, underlined).
enum TextTable {
    /// Cells are escaped (``MessageText/oneLine(_:)``) before the widths are measured, so a name with a newline or a
    /// terminal escape from a file neither breaks the table nor reaches the terminal.
    static func render(_ unescapedRows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        let rows = unescapedRows.map { $0.map(MessageText.oneLine) }
        guard let columns = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return rightAligned.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ").trailingTrimmed()
        }
        var output = [line(rows[0]), line(widths.map { String(repeating: "-", count: $0) })]
        output.append(contentsOf: rows.dropFirst().map(line))
        return output
    }
}

extension String {
    func trailingTrimmed() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
