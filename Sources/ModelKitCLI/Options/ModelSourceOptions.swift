import ArgumentParser
import ModelKit

/// How to read a model: the flags shared by `inspect`, `convert`, `run` and `finetune`.
struct ModelSourceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Architecture of a weight-only file: a string such as \"linear(400,200) relu linear(200,2) softmax\" or a JSON file path (Specs/interop/architecture.md).",
        valueName: "spec"))
    var arch: String?

    @Option(name: .long, help: "Declare the stored layout of dense weights: in-out ([in, out], Keras) or out-in ([out, in], PyTorch).")
    var weightLayout: WeightLayoutArgument?

    @Option(name: .long, help: "In a PyTorch checkpoint dict, the key (dotted path) that holds the state dict, e.g. model.")
    var key: String?

    @Option(name: .long, help: "In an ONNX graph with several outputs, the output to compute (default: the first floating-point one).")
    var outputName: String?

    /// The library's load options for these flags.
    func loadOptions(checksums: ChecksumPolicy = .enforce) throws -> ModelIO.LoadOptions {
        var options = ModelIO.LoadOptions(checksums: checksums, weightLayout: weightLayout?.layout)
        if let arch { options.architecture = try Architecture.fromArgument(arch) }
        options.stateDictKey = key
        options.outputName = outputName
        return options
    }
}

/// `--weight-layout in-out|out-in`.
struct WeightLayoutArgument: ExpressibleByArgument {
    let layout: WeightLayout
    init?(argument: String) {
        guard let layout = WeightLayout(name: argument) else { return nil }
        self.layout = layout
    }
    static var allValueStrings: [String] { ["in-out", "out-in"] }
}

/// The model file a command reads: `path` itself, or for a folder (a downloaded model repository) the model file
/// in it, with a note saying which (``ModelIO/resolveModelPath(_:)``).
func resolvedModelPath(_ path: String) throws -> String {
    let (resolved, note) = try ModelIO.resolveModelPath(path)
    if let note { printToStandardError("note: \(note)") }
    return resolved
}
