import FuzzSupport
import ModelKit

/// A single `.safetensors` file: header checks and tensor views (`SafetensorsFormat.readTensors(storage:name:)`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    if let (tensors, _) = try? SafetensorsFormat.readTensors(storage: storage, name: "fuzz.safetensors") {
        FuzzInput.touch(tensors)
    }
    return 0
}
