import ArgumentParser
import Foundation
import ModelKit

/// `modelkit run MODEL --input X [--output Y]`: the forward pass over a file of inputs.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on inputs from .npy, .npz, .csv or .json; write .npy, .csv, .json, or a table.")

    @Argument(help: "The model file (any supported format; recognised by content).")
    var model: String

    @Option(name: .long, help: "Input file: .npy, .npz (--array picks the array), .csv (header row optional) or .json (nested lists).")
    var input: String

    @Option(name: .long, help: "Output file: .npy, .csv or .json. Without it, an aligned table is printed.")
    var output: String?

    @Option(name: .long, help: "The array to read from an .npz input (default: the only one).")
    var array: String?

    @Option(name: .long, help: "Rows per forward pass; large inputs are streamed in batches of this size.")
    var batchSize: Int = 1024

    @Option(name: .long, help: "batch-major ([batch, features], the default) or feature-major ([features, batch]).")
    var inputLayout: InputLayoutArgument = .batchMajor

    @Option(name: .long, help: "For classifiers: print the K most likely classes per row instead of every output.")
    var topK: Int?

    @OptionGroup var source: ModelSourceOptions

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1.") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1.") }
        if let output, !["npy", "csv", "json"].contains(where: { output.lowercased().hasSuffix("." + $0) }) {
            throw ValidationError("Cannot tell the output format of '\(output)'; use .npy, .csv or .json.")
        }
        if topK != nil && output != nil { throw ValidationError("--top-k prints a table; it cannot be combined with --output.") }
    }

    mutating func run() throws {
        model = try resolvedModelPath(model)
        let loaded = try ModelIO.load(model, options: source.loadOptions())
        for note in loaded.notes { printToStandardError("note: \(note)") }
        var inputs = try InputFile.read(path: input, arrayName: array)
        if inputs.shape.rank == 1 { inputs = try inputs.reshaped([1, inputs.shape.dimensions[0]]) }
        guard inputs.shape.rank >= 2 else {
            throw ModelFileError(.invalidRequest, "input has shape \(inputs.shape); expected a 2-D [batch, features] array", path: input)
        }
        if inputLayout == .featureMajor {
            guard inputs.shape.rank == 2 else {
                throw ModelFileError(.invalidRequest, "input has shape \(inputs.shape); --input-layout feature-major takes a 2-D [features, batch] array", path: input)
            }
            inputs = try inputs.transposed2D()
        }
        if inputs.shape.rank > 2, let features = loaded.model.info.inputShape.last ?? nil,
           inputs.shape.dimensions.dropFirst().reduce(1, *) == features {
            printToStandardError("note: input \(inputs.shape) is read as [\(inputs.shape.dimensions[0]), \(features)] (each sample flattened row-major, as nn.Flatten does)")
        }
        if inputs.dtype != .float32 {
            guard inputs.dtype != .bool else {
                throw ModelFileError(.invalidRequest, "input dtype \(inputs.dtype.rawValue) is not numeric", path: input)
            }
            // Reported once per run, not per batch.
            printToStandardError("note: converting \(inputs.dtype.rawValue) input to float32")
            inputs = try inputs.converted(to: .float32)
        }
        let session = try InferenceSession(model: loaded.model, options: InferenceOptions(maximumBatchSize: batchSize))
        let outputs: Tensor
        do {
            outputs = try session.predict(inputs)
        } catch {
            throw ModelFileError(.invalidRequest, "\(error)", path: input)
        }
        if let output {
            try OutputFile.write(outputs, to: output)
            printToStandardError("wrote \(output) \(outputs.shape)")
        } else {
            print(OutputTable.render(outputs, topK: topK), terminator: "")
        }
    }
}

/// `--input-layout batch-major|feature-major`.
enum InputLayoutArgument: String, ExpressibleByArgument, CaseIterable {
    case batchMajor = "batch-major"
    case featureMajor = "feature-major"
}
