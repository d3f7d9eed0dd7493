import FuzzSupport
import ModelKit

/// The JSON form of a ModelKit model (`ModelJSONForm`), from bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzInput.bytes(data, size)
    if let loaded = try? ModelJSONForm.read(bytes: UnsafeRawBufferPointer(bytes)) { FuzzInput.touch(loaded) }
    return 0
}
