import CLibFuzzer
import Foundation

/// Starts libFuzzer from a target's `main.swift`.
///
/// SwiftPM gives every executable its own `main` (aliased to `<module>_main` at link time), which shadows the one in
/// libFuzzer's runtime; so each target hands its `LLVMFuzzerTestOneInput` to `LLVMFuzzerRunDriver` explicitly. All
/// libFuzzer flags (`-max_total_time`, `-rss_limit_mb`, corpus folders, a crash file to replay) work as usual.
public enum FuzzDriver {
    /// Runs libFuzzer with the process arguments and exits with its status.
    public static func run(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
        // The scratch folder of the path-only targets goes when the fuzzer exits normally (a crash leaves it, with
        // the input that caused it).
        atexit { try? FileManager.default.removeItem(atPath: FuzzInput.scratchFolder) }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }
}
