import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// CSV input of `modelkit run` and of training data (`CSVTensorReader.read` and `readTable`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    if let tensor = try? CSVTensorReader.read(storage.bytes, path: "fuzz.csv") { FuzzInput.touch(tensor) }
    if let table = try? CSVTensorReader.readTable(storage.bytes, path: "fuzz.csv") { FuzzInput.touch(table.values) }
    return 0
}
