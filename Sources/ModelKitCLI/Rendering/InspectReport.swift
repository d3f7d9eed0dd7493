import Foundation
import ModelKit
import ModelKitCore

/// What `inspect` shows, built once and rendered as text or as JSON (the JSON schema is in Specs/cli.md).
struct InspectReport {
    let path: String
    let loaded: LoadedModel
    let analysis: ModelAnalysis

    var model: Model { loaded.model }

    // MARK: JSON

    func jsonObject() -> JSONObject {
        var top = JSONObject()
        top["file"] = .string(path)
        top["format"] = .string(loaded.formatName)
        top["format_version"] = .string(loaded.formatVersion)
        top["file_size"] = .integer(loaded.fileSize)
        top["model"] = .object(JSONObject([
            ("name", .string(model.info.name)),
            ("producer", .string(model.info.producer)),
            ("source_format", .string(model.info.sourceFormat)),
            ("input", .object(JSONObject([("shape", shapeJSON(model.info.inputShape)), ("dtype", .string(model.info.inputDType.rawValue))]))),
            ("output", .object(JSONObject([("shape", shapeJSON(analysis.outputShape))]))),
            ("metadata", .object(JSONObject(model.info.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))),
        ]))
        top["checksums"] = .object(JSONObject([
            ("header", .string(loaded.headerChecksum.rawValue)),
            ("tensors", .object(JSONObject(checksumCounts().map { ($0.key, .integer($0.count)) }))),
        ]))
        top["layers"] = .array(analysis.layers.map { layerJSON($0) })
        top["tensors"] = .array(model.tensors.map { tensorJSON($0) })
        top["totals"] = .object(JSONObject([
            ("layers", .integer(model.layers.count)),
            ("dense_layers", .integer(model.denseLayerCount)),
            ("parameters", .integer(analysis.totalParameters)),
            ("parameter_bytes", .integer(analysis.totalParameterBytes)),
            ("tensors", .integer(model.tensors.count)),
        ]))
        top["valid"] = .bool(analysis.isValid)
        top["issues"] = .array(analysis.issues.map { issue in
            .object(JSONObject([
                ("severity", .string(issue.severity.rawValue)),
                ("layer", issue.layer.map(JSONValue.string) ?? .null),
                ("tensor", issue.tensor.map(JSONValue.string) ?? .null),
                ("message", .string(issue.message)),
                ("likely_cause", issue.likelyCause.map(JSONValue.string) ?? .null),
                ("fix", issue.fix.map(JSONValue.string) ?? .null),
            ]))
        })
        top["notes"] = .array(loaded.notes.map(JSONValue.string))
        return top
    }

    func jsonText() -> String { JSONWriter(indent: 2).string(.object(jsonObject())) }

    private func shapeJSON(_ shape: [Int?]) -> JSONValue { .array(shape.map { $0.map { JSONValue.integer($0) } ?? .null }) }

    private func layerJSON(_ layer: LayerSummary) -> JSONValue {
        var object = JSONObject()
        object["name"] = .string(layer.name)
        object["kind"] = .string(layer.kind.rawValue)
        object["input_shape"] = shapeJSON(layer.inputShape)
        object["output_shape"] = shapeJSON(layer.outputShape)
        if let source = model.layers.first(where: { $0.name == layer.name }), !source.attributes.isEmpty {
            object["attributes"] = .object(source.attributes)
        }
        if let shape = layer.weightShape {
            object["weight"] = .object(JSONObject([
                ("shape", .array(shape.dimensions.map { .integer($0) })),
                ("layout", layer.weightLayout.map { .string($0.rawValue) } ?? .null),
                ("layout_source", layer.weightLayoutSource.map { .string($0.rawValue) } ?? .null),
            ]))
        } else {
            object["weight"] = .null
        }
        object["dtype"] = layer.dtype.map { .string($0.rawValue) } ?? .null
        object["parameters"] = .integer(layer.parameterCount)
        object["bytes"] = .integer(layer.parameterBytes)
        return .object(object)
    }

    private func tensorJSON(_ entry: ModelTensor) -> JSONValue {
        var object = JSONObject()
        object["name"] = .string(entry.name)
        object["dtype"] = .string(entry.tensor.dtype.rawValue)
        object["shape"] = .array(entry.tensor.shape.dimensions.map { .integer($0) })
        object["layout"] = entry.layout.map { .string($0.rawValue) } ?? .null
        object["encoding"] = .string(loaded.tensorEncodings[entry.name] ?? "raw")
        object["bytes"] = .integer(entry.tensor.byteCount)
        object["stored_bytes"] = .integer(loaded.storedBytes[entry.name] ?? entry.tensor.byteCount)
        object["checksum"] = .string((loaded.tensorChecksums[entry.name] ?? .absent).rawValue)
        return .object(object)
    }

    private func checksumCounts() -> [(key: String, count: Int)] {
        let statuses: [ChecksumStatus] = [.ok, .mismatch, .notChecked]
        return statuses.map { status in
            (status.rawValue.replacingOccurrences(of: " ", with: "_"), loaded.tensorChecksums.values.filter { $0 == status }.count)
        }
    }

    // MARK: Text

    func text() -> String {
        var lines: [String] = []
        lines.append("\(path): \(loaded.formatName) \(loaded.formatVersion), \(grouped(loaded.fileSize)) bytes")
        lines.append("model: \(model.info.name.isEmpty ? "(unnamed)" : model.info.name)  producer: \(model.info.producer)  source format: \(model.info.sourceFormat)")
        lines.append("checksums: \(checksumLine())")
        lines.append("input: \(Model.describe(model.info.inputShape)) \(model.info.inputDType.rawValue)  output: \(Model.describe(analysis.outputShape))")
        for (key, value) in model.info.metadata.sorted(by: { $0.key < $1.key }) {
            // A checkpoint's state (loss history included) can be megabytes: the text report shows its start.
            let shown = value.count > 160 ? String(value.prefix(120)) + "… (\(grouped(value.utf8.count)) bytes; inspect --json shows all)" : value
            lines.append("metadata: \(key) = \(shown)")
        }
        lines.append("")
        var table = [["#", "layer", "type", "input → output", "weight (layout)", "dtype", "params", "bytes"]]
        for (index, layer) in analysis.layers.enumerated() {
            var kind = layer.kind.rawValue
            if let source = model.layers.first(where: { $0.name == layer.name }) {
                if layer.kind == .leakyRelu { kind += "(\(source.alpha))" }
                if layer.kind == .gelu && source.usesTanhApproximation { kind += "(tanh)" }
            }
            let weight = layer.weightShape.map { shape in
                "\(shape) \(layer.weightLayout?.rawValue ?? "no layout")" + (layer.weightLayoutSource.map { " (\($0.rawValue))" } ?? "")
            } ?? "-"
            table.append(["\(index + 1)", layer.name, kind, "\(Model.describe(layer.inputShape)) → \(Model.describe(layer.outputShape))",
                          weight, layer.dtype?.rawValue ?? "-", grouped(layer.parameterCount), grouped(layer.parameterBytes)])
        }
        lines.append(contentsOf: TextTable.render(table, rightAligned: [0, 6, 7]))
        let compressed = model.tensors.filter { (loaded.tensorEncodings[$0.name] ?? "raw") != "raw" }
        if !compressed.isEmpty {
            lines.append("")
            var rows = [["tensor", "encoding", "bytes", "stored", "ratio"]]
            for entry in compressed {
                let stored = loaded.storedBytes[entry.name] ?? entry.tensor.byteCount
                let ratio = entry.tensor.byteCount == 0 ? "-" : String(format: "%.3f", Double(stored) / Double(entry.tensor.byteCount))
                rows.append([entry.name, loaded.tensorEncodings[entry.name] ?? "raw", grouped(entry.tensor.byteCount), grouped(stored), ratio])
            }
            lines.append(contentsOf: TextTable.render(rows, rightAligned: [2, 3, 4]))
        }
        lines.append("")
        lines.append("total: \(model.layers.count) layers (\(model.denseLayerCount) dense), \(grouped(analysis.totalParameters)) parameters, \(grouped(analysis.totalParameterBytes)) bytes")
        if analysis.issues.isEmpty {
            lines.append("validation: ok")
        } else {
            lines.append("validation: \(analysis.errors.count) error(s), \(analysis.warnings.count) warning(s)")
            for issue in analysis.issues { lines.append("  \(issue.severity.rawValue): \(issue)") }
        }
        for note in loaded.notes { lines.append("note: \(note)") }
        // Names and metadata come from the file: a hostile one must not drive the terminal.
        return lines.map(MessageText.oneLine).joined(separator: "\n") + "\n"
    }

    private func checksumLine() -> String {
        guard loaded.headerChecksum != .absent || !loaded.tensorChecksums.values.allSatisfy({ $0 == .absent }) else {
            return loaded.formatName.contains("JSON") ? "none (the JSON form has no checksums)" : "none (the format has no checksums)"
        }
        let counts = checksumCounts().filter { $0.count > 0 }.map { "\($0.count) \($0.key.replacingOccurrences(of: "_", with: " "))" }
        var line = "header \(loaded.headerChecksum.rawValue), tensors " + (counts.isEmpty ? "none" : counts.joined(separator: ", "))
        let bad = loaded.tensorChecksums.filter { $0.value == .mismatch }.map(\.key).sorted()
        if !bad.isEmpty { line += " (damaged: \(bad.joined(separator: ", ")))" }
        return line
    }
}

/// `1234567` → `1,234,567`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(character)
    }
    return (value < 0 ? "-" : "") + result
}
