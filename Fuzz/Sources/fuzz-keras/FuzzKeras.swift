import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// A `.keras` archive from bytes (`KerasFormat.readArchive(storage:path:)`): the zip, `config.json`,
/// `metadata.json`, and `model.weights.h5` opened as an in-memory HDF5 image. libhdf5 itself is not instrumented,
/// so this target finds problems in our use of it (bounds, sizes trusted from datasets), not inside it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if let model = try? KerasFormat.readArchive(storage: FuzzInput.storage(data, size), path: "fuzz.keras") {
        FuzzInput.sink &+= model.analyze().issues.count
        FuzzInput.touch(model.tensors)
    }
    return 0
}
