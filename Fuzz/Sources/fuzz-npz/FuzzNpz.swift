import FuzzSupport
import ModelKit

/// An `.npz` archive: our zip reader (`ZipArchive(storage:path:)`) and every `.npy` member extracted and read, the
/// way `NumPyFile.readArchive` does. The inflate limit is lowered to 64 MiB so that a (legitimately bounded) large
/// member does not count as a memory failure of the fuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let limits = ZipArchive.Limits(maximumInflatedSize: 64 << 20)
    guard let archive = try? ZipArchive(storage: FuzzInput.storage(data, size), path: "fuzz.npz", limits: limits) else {
        return 0
    }
    for member in archive.members {
        guard let contents = try? archive.contents(of: member) else { continue }
        if let tensor = try? NumPyFile.readArray(storage: contents.storage, range: contents.range,
                                                 source: "fuzz.npz[\(member.name)]") {
            FuzzInput.touch(tensor)
        }
    }
    return 0
}
