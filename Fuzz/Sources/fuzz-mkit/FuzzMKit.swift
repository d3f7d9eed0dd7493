import FuzzSupport
import ModelKit

/// The binary `.mkit` reader, once enforcing checksums and once skipping them (so mutations reach the header and
/// layout checks instead of stopping at the header CRC).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = FuzzInput.storage(data, size)
    for policy in [ChecksumPolicy.enforce, .skip] {
        if let loaded = try? MKitReader.read(storage: storage, checksums: policy) { FuzzInput.touch(loaded) }
    }
    return 0
}
