import Foundation
import ModelKit

/// The aligned table `run` prints when no output file is given.
enum OutputTable {
    /// One row per input row: every output value, or with `topK` the most likely classes and their scores.
    static func render(_ outputs: Tensor, topK: Int?) -> String {
        let values = outputs.floatValues()
        let columns = outputs.shape.rank == 2 ? outputs.shape.dimensions[1] : max(values.count, 1)
        let rows = columns == 0 ? 0 : values.count / columns
        var table: [[String]]
        if let topK {
            let k = min(topK, columns)
            table = [["row"] + (1...max(k, 1)).flatMap { ["class \($0)", "score"] }]
            for row in 0..<rows {
                let slice = Array(values[(row * columns)..<((row + 1) * columns)])
                // Ties keep the lower class index first, as numpy.argsort(kind="stable") on the negated scores would.
                let ranked = slice.indices.sorted { slice[$0] != slice[$1] ? slice[$0] > slice[$1] : $0 < $1 }.prefix(k)
                table.append(["\(row)"] + ranked.flatMap { ["\($0)", format(slice[$0])] })
            }
        } else {
            table = [["row"] + (0..<columns).map { "out \($0)" }]
            for row in 0..<rows {
                table.append(["\(row)"] + (0..<columns).map { format(values[row * columns + $0]) })
            }
        }
        return TextTable.render(table, rightAligned: Set(0..<(table.first?.count ?? 0))).joined(separator: "\n") + "\n"
    }

    static func format(_ value: Float) -> String { String(format: "%.6g", Double(value)) }
}
