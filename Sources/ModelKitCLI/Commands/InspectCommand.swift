import ArgumentParser
import ModelKit

/// `modelkit inspect FILE [--json]`: what a model file holds, and whether it is consistent.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's format, layers, shapes, parameters, checksums and validation results.")

    @Argument(help: "The model file, any supported format (recognised by content).")
    var file: String

    @Flag(name: .long, help: "Print a stable JSON object instead of text (schema in Specs/cli.md).")
    var json = false

    @Flag(name: .long, help: "Exit with code 2 when validation finds an error.")
    var strict = false

    @OptionGroup var source: ModelSourceOptions

    mutating func run() throws {
        file = try resolvedModelPath(file)
        let options = try source.loadOptions(checksums: .report)
        let loaded: LoadedModel
        do {
            loaded = try ModelIO.load(file, options: options)
        } catch {
            // Files that do not become layers are still described: from their headers, tensors or graph.
            guard let contents = try contentsReport(after: error, options: options) else { throw error }
            print(json ? contents.jsonText() : contents.text(), terminator: json ? "\n" : "")
            if strict { throw ExitCode(2) }
            return
        }
        let analysis = loaded.model.analyze()
        let report = InspectReport(path: file, loaded: loaded, analysis: analysis)
        print(json ? report.jsonText() : report.text(), terminator: json ? "\n" : "")
        // The report is shown in full first; damage still makes the command fail.
        if let damaged = loaded.tensorChecksums.filter({ $0.value == .mismatch }).map(\.key).sorted().first {
            throw ModelFileError(.checksumMismatch, "tensor '\(damaged)' checksum mismatch: its bytes are damaged (C2)", path: file)
        }
        if strict && !analysis.isValid { throw ExitCode(2) }
    }

    /// A description of the file's contents when loading it as layers failed for a reason other than damage:
    /// an ONNX graph ModelKit does not map, a GGUF or weight-only file without an architecture, a checkpoint
    /// dict without `--key`. `nil` when the file cannot be described either (the load error is then reported).
    private func contentsReport(after error: Error, options: ModelIO.LoadOptions) throws -> ContentsReport? {
        guard let format = try? ModelFormat.detect(path: file) else { return nil }
        let reason = "\(error)".replacingOccurrences(of: file + ": ", with: "")
        switch format {
        case .onnx:
            guard let onnxError = error as? ONNXError, onnxError.kind == .unsupported,
                  let summary = try? ONNXFormat.summary(path: file) else { return nil }
            return .onnx(path: file, summary: summary, reason: onnxError.message)
        case .gguf:
            guard options.architecture == nil, let header = try? GGUFFormat.readHeader(path: file) else { return nil }
            return .gguf(path: file, header: header, reason: reason)
        case .safetensors:
            guard options.architecture == nil, let contents = try? SafetensorsFormat.readTensors(path: file) else { return nil }
            return .tensors(path: file, format: "safetensors", fileSize: fileSize(), tensors: contents.tensors,
                            metadata: contents.metadata, reason: reason)
        case .npz:
            guard options.architecture == nil, let arrays = try? NumPyFile.readArchive(path: file) else { return nil }
            return .tensors(path: file, format: "NumPy .npz", fileSize: fileSize(),
                            tensors: arrays.map { ModelTensor(name: $0.name, tensor: $0.tensor) }, metadata: [:], reason: reason)
        case .pytorch:
            guard options.architecture == nil else { return nil }
            if let tensors = try? PyTorchFormat.readStateDict(path: file, key: options.stateDictKey) {
                return .tensors(path: file, format: "PyTorch .pt", fileSize: fileSize(), tensors: tensors, metadata: [:], reason: reason)
            }
            guard options.stateDictKey == nil, let keys = try? PyTorchFormat.listKeys(path: file) else { return nil }
            var report = ContentsReport(path: file, format: "PyTorch .pt", version: "", fileSize: fileSize())
            report.tables.append(("keys", [["key", "holds"]] + keys.map { [$0.key, $0.summary] }))
            report.notes.append(reason)
            report.notes.append("pick the state dict with --key (e.g. --key \(keys.first?.key ?? "model"))")
            return report
        default:
            return nil
        }
    }

    private func fileSize() -> Int { (try? MappedFile.open(file).bytes.count) ?? 0 }
}
