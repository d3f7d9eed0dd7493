import FuzzSupport
import ModelKit

/// A sharded checkpoint's `model.safetensors.index.json`. The index names its shards by path, so the input is
/// written next to one real shard (`model-00001-of-00001.safetensors`, tensor `w`) and read from there: shard
/// name checks, JSON limits and index/shard agreement all run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    _ = shard
    let path = FuzzInput.writeScratch(FuzzInput.bytes(data, size), name: "model.safetensors.index.json")
    if let (tensors, _) = try? SafetensorsFormat.readTensors(path: path) { FuzzInput.touch(tensors) }
    return 0
}

/// Written once per process.
let shard: Void = {
    let tensor = ModelTensor(name: "w", tensor: Tensor(float32: [1, 2, 3, 4], shape: Shape([2, 2])))
    try? SafetensorsFormat.writeTensors([tensor], metadata: [:],
                                        to: FuzzInput.scratchFolder + "/model-00001-of-00001.safetensors")
}()
