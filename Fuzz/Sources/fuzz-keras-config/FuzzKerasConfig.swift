import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// A Keras `config.json` (`KerasModelConfig`: Sequential and Functional graphs, layer allowlist, shapes), parsed
/// the way `KerasFormat.readArchive` parses the member.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let json = try? JSONValue.parse(Array(FuzzInput.bytes(data, size))) else { return 0 }
    if let config = try? KerasModelConfig(json, path: "fuzz.keras[config.json]") {
        FuzzInput.sink &+= config.layers.count
    }
    return 0
}
