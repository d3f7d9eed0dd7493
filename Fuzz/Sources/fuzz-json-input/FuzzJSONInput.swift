import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// JSON input of `modelkit run` (`JSONTensorReader.read`), with and without an array name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(FuzzInput.bytes(data, size))
    for name in [nil, "x"] as [String?] {
        if let tensor = try? JSONTensorReader.read(bytes, path: "fuzz.json", arrayName: name) { FuzzInput.touch(tensor) }
    }
    return 0
}
