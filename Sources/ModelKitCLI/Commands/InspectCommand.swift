import ArgumentParser
import ModelKit

/// `modelkit inspect FILE [--json]`: what a model file holds, and whether it is consistent.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's format, layers, shapes, parameters, checksums and validation results.")

    @Argument(help: "The model file (.mkit or .json; recognised by content).")
    var file: String

    @Flag(name: .long, help: "Print a stable JSON object instead of text (schema in Specs/cli.md).")
    var json = false

    @Flag(name: .long, help: "Exit with code 2 when validation finds an error.")
    var strict = false

    @OptionGroup var source: ModelSourceOptions

    func run() throws {
        let loaded = try ModelIO.load(file, options: try source.loadOptions(checksums: .report))
        let analysis = loaded.model.analyze()
        let report = InspectReport(path: file, loaded: loaded, analysis: analysis)
        print(json ? report.jsonText() : report.text(), terminator: json ? "\n" : "")
        // The report is shown in full first; damage still makes the command fail.
        if let damaged = loaded.tensorChecksums.filter({ $0.value == .mismatch }).map(\.key).sorted().first {
            throw ModelFileError(.checksumMismatch, "tensor '\(damaged)' checksum mismatch: its bytes are damaged (C2)", path: file)
        }
        if strict && !analysis.isValid { throw ExitCode(2) }
    }
}
