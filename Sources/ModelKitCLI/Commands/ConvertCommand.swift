import ArgumentParser
import Foundation
import ModelKit
import ModelKitCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `modelkit convert IN OUT`: reads any supported model and writes it in the format OUT's extension names.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a model between formats (input recognised by content, output by extension).")

    @Argument(help: "The input model.")
    var input: String

    @Argument(help: "The output file; its extension picks the format: .mkit, .json, .onnx, .safetensors, .npz, .pt, .gguf, .keras, .h5.")
    var output: String

    @OptionGroup var source: ModelSourceOptions

    @Option(name: .long, help: "Store .mkit tensors compressed (byte-shuffle + zlib): none, fast, default or best.")
    var compress: CompressionArgument = .none

    @Option(name: .long, help: "Store floating-point tensors as float32, float16 or bfloat16.")
    var dtype: PrecisionArgument?

    func validate() throws {
        guard let format = ModelFormat(outputPath: output) else {
            throw ValidationError("Cannot tell the output format of '\(output)' from its extension; use one of \(ModelFormat.outputExtensionList).")
        }
        if compress != .none && format != .mkit {
            throw ValidationError("--compress applies to .mkit output only.")
        }
    }

    mutating func run() throws {
        input = try resolvedModelPath(input)
        if try SameFile.check(input, output) {
            throw ModelFileError(.invalidRequest, "refusing to overwrite the input file; choose another output path", path: output)
        }
        let options = try source.loadOptions()
        let loaded: LoadedModel
        do {
            loaded = try ModelIO.load(input, options: options)
        } catch {
            // A file that holds tensors but no network ModelKit can map (weights without --arch, an LLM, an ONNX graph
            // that is not a dense chain) still converts to a weight-only format, tensor by tensor. A damaged file
            // fails to give its tensors too, and then the first error stands.
            guard options.architecture == nil, options.weightLayout == nil, options.outputName == nil,
                  let format = ModelFormat(outputPath: output), [.safetensors, .npz].contains(format),
                  let tensors = try? ModelIO.loadTensors(input, options: options) else { throw error }
            try TensorsOnlyExport.write(tensors, to: output, format: format, dtype: dtype?.dtype, whyNoLayers: error)
            return
        }
        for note in loaded.notes { printToStandardError("note: \(note)") }
        let analysis = loaded.model.analyze()
        for issue in analysis.issues { printToStandardError("\(issue.severity.rawValue): \(issue)") }
        try ModelIO.save(loaded.model, to: output, options: .init(compression: compress.level, dtype: dtype?.dtype))
        printToStandardError("wrote \(output) (\(loaded.model.layers.count) layers, \(analysis.totalParameters) parameters)")
    }
}

/// `--compress none|fast|default|best`.
enum CompressionArgument: String, ExpressibleByArgument, CaseIterable {
    case none, fast, `default`, best
    var level: Zlib.Level? { self == .none ? nil : Zlib.Level(rawValue: rawValue) }
}

/// `--dtype float32|float16|bfloat16`.
enum PrecisionArgument: String, ExpressibleByArgument, CaseIterable {
    case float32, float16, bfloat16
    var dtype: DType { DType(name: rawValue) ?? .float32 }
}

/// Writes a file's tensors without layers, under their own names, for inputs that do not map to a network.
enum TensorsOnlyExport {
    static func write(_ source: [ModelTensor], to output: String, format: ModelFormat, dtype: DType?, whyNoLayers: any Error) throws {
        var tensors = source
        if let dtype {
            tensors = try tensors.map { entry in
                guard entry.tensor.dtype.isFloatingPoint else { return entry }
                var copy = entry
                copy.tensor = try entry.tensor.converted(to: dtype)
                return copy
            }
        }
        let reason = (whyNoLayers as? ONNXError).map { "the graph does not map to dense layers (\($0.message))" } ?? "\(whyNoLayers)"
        printToStandardError("note: \(reason); writing its \(tensors.count) tensors as they are, without layers")
        switch format {
        // "pt" is the framework tag Hugging Face loaders require; the names are the file's own.
        case .safetensors: try SafetensorsFormat.writeTensors(tensors, metadata: ["format": "pt"], to: output)
        default: try NumPyFile.writeArchive(tensors.map { ($0.name, $0.tensor) }, to: output)
        }
        printToStandardError("wrote \(output) (\(tensors.count) tensors)")
    }
}

/// Whether two paths name the same file (same device and inode), so `convert` never overwrites its input.
enum SameFile {
    static func check(_ first: String, _ second: String) throws -> Bool {
        var a = stat(), b = stat()
        guard stat(first, &a) == 0 else {
            throw ModelFileError(.io, String(cString: strerror(errno)), path: first)
        }
        guard stat(second, &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }
}

/// Diagnostics go to standard error so that standard output stays machine-readable; one line each, with anything a
/// file put into them (names, metadata) escaped.
func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((MessageText.oneLine(text) + "\n").utf8))
}
