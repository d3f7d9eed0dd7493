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

    /// Parses the command line and runs the command, like ArgumentParser's own `main()`, except that an error from
    /// one of our commands is printed through ``OneLineError``: whatever a hostile file managed to put into a
    /// message, the user sees one line with no terminal control characters. ArgumentParser's own commands (`help`,
    /// `--help`) and exit requests keep their handling.
    public static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        let ours = ([Self.self] + configuration.subcommands).contains { $0 == type(of: command) }
        do {
            try command.run()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch let error as ValidationError {
            exit(withError: error)
        } catch {
            exit(withError: ours ? OneLineError(error) : error)
        }
    }

    static func versionText() -> String {
        let blas = InferenceSession.blas
        return "modelkit \(version) (format \(FormatVersion.current); matrix library: \(blas))"
    }
}
