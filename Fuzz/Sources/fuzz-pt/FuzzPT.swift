import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// A `torch.save` archive from bytes: zip checks, the restricted unpickler on `data.pkl`, the key listing `inspect`
/// prints, and the state dict's tensors (`PyTorchFormat.loadStateDict(storage:path:key:)`), then the
/// `--arch` suggestion computed from them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    if let archive = try? TorchArchive.open(storage: storage, path: "fuzz.pt") {
        FuzzInput.sink &+= TorchStateDict.listing(archive).count
    }
    if let loaded = try? PyTorchFormat.loadStateDict(storage: storage, path: "fuzz.pt", key: nil) {
        FuzzInput.touch(loaded.tensors)
        FuzzInput.sink &+= PyTorchFormat.suggestedArchitecture(loaded.tensors)?.utf8.count ?? 0
    }
    return 0
}
