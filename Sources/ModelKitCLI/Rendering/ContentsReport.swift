import Foundation
import ModelKit
import ModelKitCore

/// What `inspect` shows for a file it cannot (or was not told how to) turn into layers: any ONNX graph, a GGUF
/// LLM, a weight-only file without `--arch`, a PyTorch checkpoint dict. Read from headers where the format allows,
/// so that even a file of many gigabytes is described at once.
struct ContentsReport {
    /// One tensor as stored.
    struct TensorRow {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: Int?
    }

    var path: String
    var format: String
    var version: String
    var fileSize: Int
    /// `key = value` facts about the file (opset, producer, GGUF metadata, …), in order.
    var facts: [(key: String, value: String)] = []
    /// Extra tables (ONNX inputs, outputs and nodes; checkpoint keys), each with a title and a header row.
    var tables: [(title: String, rows: [[String]])] = []
    var tensors: [TensorRow] = []
    var notes: [String] = []

    // MARK: Builders

    /// Any ONNX model, mapped or not (``ONNXFormat/summary(path:)``).
    static func onnx(path: String, summary: ONNXSummary, reason: String) -> ContentsReport {
        var report = ContentsReport(path: path, format: "ONNX", version: "IR \(summary.irVersion)", fileSize: summary.fileSize)
        report.facts.append(("opsets", summary.opsetImports.map(\.description).joined(separator: ", ")))
        report.facts.append(("producer", "\(summary.producerName) \(summary.producerVersion)".trimmingCharacters(in: .whitespaces)))
        if !summary.graphName.isEmpty { report.facts.append(("graph", summary.graphName)) }
        let values = { (title: String, list: [ONNXSummary.Value]) -> (String, [[String]]) in
            (title, [["name", "type", "shape"]] + list.map { [$0.name, $0.elementType, $0.shapeText] })
        }
        report.tables.append(values("inputs", summary.inputs))
        report.tables.append(values("outputs", summary.outputs))
        report.tables.append(("nodes", [["#", "name", "op", "inputs", "outputs"]] + summary.nodes.enumerated().map { index, node in
            ["\(index + 1)", node.name, node.domain.isEmpty ? node.opType : "\(node.domain).\(node.opType)",
             node.inputs.joined(separator: ", "), node.outputs.joined(separator: ", ")]
        }))
        report.tensors = summary.initializers.map {
            TensorRow(name: $0.name, dtype: $0.dtype?.rawValue ?? $0.dataType, shape: $0.dimensions.map { Int(clamping: $0) }, bytes: $0.byteCount)
        }
        report.notes.append("the graph does not map to dense layers: \(reason)")
        return report
    }

    /// A GGUF file from its header alone (no tensor data is read).
    static func gguf(path: String, header: GGUFHeader, reason: String?) -> ContentsReport {
        var report = ContentsReport(path: path, format: "GGUF", version: "\(header.version)", fileSize: header.fileSize)
        report.facts = header.metadata.map { ($0.key, $0.value.summary()) }
        report.tensors = header.tensors.map { TensorRow(name: $0.name, dtype: $0.type.name, shape: $0.shape.dimensions, bytes: $0.byteCount) }
        let dequantizable = header.tensors.filter { $0.type.name.hasPrefix("Q") && $0.type.isReadable }
        if !dequantizable.isEmpty { report.notes.append("\(dequantizable.count) quantized tensor(s) are dequantized to float32 on load") }
        if let reason { report.notes.append(reason) }
        return report
    }

    /// Named tensors of a weight-only file.
    static func tensors(path: String, format: String, fileSize: Int, tensors: [ModelTensor], metadata: [String: String],
                        reason: String) -> ContentsReport {
        var report = ContentsReport(path: path, format: format, version: "", fileSize: fileSize)
        report.facts = metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        report.tensors = tensors.map { TensorRow(name: $0.name, dtype: $0.tensor.dtype.rawValue, shape: $0.tensor.shape.dimensions, bytes: $0.tensor.byteCount) }
        report.notes.append(reason)
        return report
    }

    // MARK: Rendering

    func text() -> String {
        var lines = ["\(path): \(format)\(version.isEmpty ? "" : " " + version), \(grouped(fileSize)) bytes"]
        for fact in facts { lines.append("\(fact.key): \(fact.value)") }
        for table in tables where table.rows.count > 1 {
            lines.append("")
            lines.append("\(table.title):")
            lines.append(contentsOf: TextTable.render(table.rows))
        }
        lines.append("")
        var rows = [["#", "tensor", "dtype", "shape", "bytes"]]
        for (index, tensor) in tensors.enumerated() {
            rows.append(["\(index + 1)", tensor.name, tensor.dtype, "\(Shape(tensor.shape))", tensor.bytes.map(grouped) ?? "?"])
        }
        lines.append(contentsOf: TextTable.render(rows, rightAligned: [0, 4]))
        let total = tensors.compactMap(\.bytes).reduce(0, +)
        let values = tensors.compactMap { Shape($0.shape).elementCount }.reduce(0, +)
        lines.append("")
        lines.append("total: \(tensors.count) tensors, \(grouped(values)) values, \(grouped(total)) bytes")
        for note in notes { lines.append("note: \(note)") }
        // Names and metadata come from the file: a hostile one must not drive the terminal.
        return lines.map(MessageText.oneLine).joined(separator: "\n") + "\n"
    }

    func jsonText() -> String {
        var top = JSONObject()
        top["file"] = .string(path)
        top["format"] = .string(format)
        top["format_version"] = .string(version)
        top["file_size"] = .integer(fileSize)
        top["model"] = .null
        top["facts"] = .object(JSONObject(facts.map { ($0.key, JSONValue.string($0.value)) }))
        for table in tables {
            guard let heading = table.rows.first else { continue }
            top[table.title] = .array(table.rows.dropFirst().map { row in
                .object(JSONObject(zip(heading, row).map { ($0.0 == "#" ? "index" : $0.0, JSONValue.string($0.1)) }))
            })
        }
        top["tensors"] = .array(tensors.map { tensor in
            .object(JSONObject([
                ("name", .string(tensor.name)), ("dtype", .string(tensor.dtype)),
                ("shape", .array(tensor.shape.map { .integer($0) })), ("bytes", tensor.bytes.map { .integer($0) } ?? .null),
            ]))
        })
        top["notes"] = .array(notes.map(JSONValue.string))
        return JSONWriter(indent: 2).string(.object(top))
    }
}
