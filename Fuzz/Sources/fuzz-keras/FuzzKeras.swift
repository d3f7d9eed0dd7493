import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// A Keras file from bytes: a `.keras` archive (`KerasFormat.readArchive(storage:path:)`: the zip, `config.json`,
/// `metadata.json`, and `model.weights.h5` read by ModelKit's own HDF5 reader) or, when the bytes start with the
/// HDF5 signature, a legacy `.h5` model (`readLegacy`: the `model_config` attribute and `model_weights`). Every
/// byte of HDF5 parsing here is ModelKit's (and instrumented): libhdf5 is used only to write.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    let isHDF5 = storage.bytes.count >= 8 && storage.bytes.prefix(8).elementsEqual(hdf5Signature)
    let read = { () throws -> Model in
        isHDF5 ? try KerasFormat.readLegacy(storage: storage, path: "fuzz.h5")
            : try KerasFormat.readArchive(storage: storage, path: "fuzz.keras")
    }
    if let model = try? read() {
        FuzzInput.sink &+= model.analyze().issues.count
        FuzzInput.touch(model.tensors)
    }
    return 0
}
