import ArgumentParser
import ModelKit

/// The `modelkit` command: convert, inspect, run and fine-tune neural-network model files.
public struct ModelKitCommand: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "modelkit",
        abstract: "Convert, inspect, run and fine-tune dense neural-network model files.",
        discussion: """
        Formats: ModelKit binary (.mkit) and JSON (.json), ONNX, safetensors, NumPy .npz, PyTorch .pt, Keras .keras
        and .h5, GGUF. Input formats are recognised by content, output formats by extension. Exit codes: 0 success, 1 the input or the operation failed, 2 the model failed validation
        (inspect --strict), 64 invalid command line. See Specs/cli.md.
        """,
        version: versionText(),
        subcommands: [InspectCommand.self, ConvertCommand.self, RunCommand.self, FinetuneCommand.self, GradcheckCommand.self]
    )

    public init() {}

    static func versionText() -> String {
        let blas = InferenceSession.blas
        return "modelkit \(version) (format \(FormatVersion.current); matrix library: \(blas))"
    }
}
