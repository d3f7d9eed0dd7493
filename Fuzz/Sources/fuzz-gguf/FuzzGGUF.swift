import FuzzSupport
import ModelKit

/// GGUF: the header parser (`GGUFFormat.readHeader(bytes:)`) and the full read with tensor decoding
/// (`readContents(storage:source:)`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.sink &+= (try? GGUFFormat.readHeader(bytes: Array(FuzzInput.bytes(data, size))))?.tensors.count ?? 0
    if let contents = try? GGUFFormat.readContents(storage: FuzzInput.storage(data, size), source: "fuzz.gguf") {
        FuzzInput.touch(contents.tensors)
    }
    return 0
}
