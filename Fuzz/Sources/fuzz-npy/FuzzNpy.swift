import FuzzSupport
import ModelKit

/// A `.npy` array (`NumPyFile.readArray(storage:range:source:)`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    if let tensor = try? NumPyFile.readArray(storage: storage, range: 0..<size, source: "fuzz.npy") {
        FuzzInput.touch(tensor)
    }
    return 0
}
