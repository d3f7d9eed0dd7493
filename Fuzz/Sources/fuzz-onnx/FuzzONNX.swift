import FuzzSupport
import ModelKit
@testable import ModelKitInterop

/// The ONNX reader: protobuf decoding, the summary `inspect` prints, every initializer decoded (what
/// `ONNXFormat.readWeights` does) and the chain mapping (`ONNXFormat.read`). External data resolves against an
/// empty scratch folder, so only the path checks run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.scratchFolder + "/model.onnx"
    guard let file = try? ONNXFile.open(storage: FuzzInput.storage(data, size), path: path) else { return 0 }
    FuzzInput.sink &+= ONNXSummary(file).initializers.count
    let decoder = ONNXTensorDecoder(path: path)
    for proto in file.graph.initializer {
        if let tensor = try? decoder.decode(proto, what: "initializer") { FuzzInput.touch(tensor) }
    }
    if let mapper = try? ONNXChainMapper(file: file), let (model, _) = try? mapper.map(outputName: nil) {
        FuzzInput.sink &+= model.analyze().issues.count
        FuzzInput.touch(model.tensors)
    }
    return 0
}
