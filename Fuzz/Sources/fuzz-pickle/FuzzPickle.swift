import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// The restricted unpickler alone, on raw pickle bytes (reaching it through a zip wastes most mutations on the
/// zip records). Storages are allowed, as inside a `torch.save` archive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    for allowsStorages in [true, false] {
        if let (root, _) = try? RestrictedUnpickler.load(storage.bytes, source: "fuzz.pkl", allowsStorages: allowsStorages) {
            FuzzInput.sink &+= "\(root)".utf8.count & 1
        }
    }
    return 0
}
