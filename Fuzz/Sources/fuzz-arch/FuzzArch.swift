import FuzzSupport
import ModelKit

/// The `--arch` value: the string form (`Architecture(parsing:)`) and the JSON list form (`Architecture(jsonText:)`,
/// what `Architecture.fromArgument` uses for text starting with `[`), then the model it describes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = FuzzInput.text(data, size)
    for architecture in [try? Architecture(parsing: text), try? Architecture(jsonText: text)] {
        guard let architecture else { continue }
        FuzzInput.sink &+= architecture.description.utf8.count & 1
    }
    // Never a file path: a `.json` suffix would make fromArgument open it.
    if !text.lowercased().hasSuffix(".json"), let architecture = try? Architecture.fromArgument(text) {
        FuzzInput.sink &+= architecture.description.utf8.count & 1
    }
    return 0
}
