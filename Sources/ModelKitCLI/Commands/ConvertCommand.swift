import ArgumentParser
import Foundation
import ModelKit

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

    @Argument(help: "The output file: .mkit or .json.")
    var output: String

    @OptionGroup var source: ModelSourceOptions

    @Option(name: .long, help: "Store .mkit tensors compressed (byte-shuffle + zlib): none, fast, default or best.")
    var compress: CompressionArgument = .none

    func validate() throws {
        guard ModelIO.OutputFormat(path: output) != nil else {
            throw ValidationError("Cannot tell the output format of '\(output)' from its extension; use .mkit or .json.")
        }
        if compress != .none && ModelIO.OutputFormat(path: output) != .mkit {
            throw ValidationError("--compress applies to .mkit output only.")
        }
    }

    func run() throws {
        if try SameFile.check(input, output) {
            throw ModelFileError(.invalidRequest, "refusing to overwrite the input file; choose another output path", path: output)
        }
        let loaded = try ModelIO.load(input, options: try source.loadOptions())
        let analysis = loaded.model.analyze()
        for issue in analysis.issues { printToStandardError("\(issue.severity.rawValue): \(issue)") }
        try ModelIO.save(loaded.model, to: output, options: .init(compression: compress.level))
        printToStandardError("wrote \(output) (\(loaded.model.layers.count) layers, \(analysis.totalParameters) parameters)")
    }
}

/// `--compress none|fast|default|best`.
enum CompressionArgument: String, ExpressibleByArgument, CaseIterable {
    case none, fast, `default`, best
    var level: Zlib.Level? { self == .none ? nil : Zlib.Level(rawValue: rawValue) }
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

/// Diagnostics go to standard error so that standard output stays machine-readable.
func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
