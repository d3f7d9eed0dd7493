import Foundation
import ModelKitCore
import ModelKitFormat
import SwiftProtobuf

/// An `.onnx` file decoded into our schema subset, with where it lives (external data is resolved against it).
struct ONNXFile {
    let path: String
    /// The folder holding the `.onnx` file: external data must stay inside it.
    let directory: String
    let fileSize: Int
    let proto: Onnx_ModelProto

    /// The deepest nesting of messages accepted. Our dense chains need 6 (model → graph → node → attribute →
    /// tensor); SwiftProtobuf's default of 100 stays far from the stack limit even for hostile input.
    static let messageDepthLimit = 100

    /// Maps the file, decodes the protobuf and checks that it is an ONNX model (a graph and an IR version).
    static func open(_ path: String) throws(ONNXError) -> ONNXFile {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw ONNXError(error) }
        return try open(storage: storage, path: path)
    }

    /// Decodes the model held in `storage`; `path` names it in errors and locates its external data. A separate
    /// entry point so that tests and the fuzz targets (Fuzz/) can decode bytes that are not in a file.
    static func open(storage: TensorStorage, path: String) throws(ONNXError) -> ONNXFile {
        let bytes = storage.bytes
        guard !bytes.isEmpty, let base = bytes.baseAddress else {
            throw ONNXError(.notONNX, "not an ONNX model: the file is empty", path: path)
        }
        var proto: Onnx_ModelProto
        do {
            // A no-copy view: SwiftProtobuf copies every bytes field it keeps, so nothing refers to the mapping
            // after decoding, and `storage` stays alive (mapped) until then.
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none)
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = messageDepthLimit
            proto = try withExtendedLifetime(storage) { try Onnx_ModelProto(serializedBytes: data, options: options) }
        } catch let error as BinaryDecodingError {
            throw describe(error, bytes: bytes, path: path)
        } catch {
            throw ONNXError(.corrupt, "the protobuf cannot be decoded: \(error)", path: path)
        }
        guard proto.hasGraph, proto.irVersion > 0 else {
            let detected = FileSniffer.detect(bytes)
            let looks = detected == .unknown ? "" : " (it looks like \(detected.rawValue))"
            let missing = proto.hasGraph ? "IR version (field 1)" : "graph (field 7)"
            throw ONNXError(.notONNX, "not an ONNX model\(looks): the protobuf has no \(missing); "
                            + "export the model again with torch.onnx.export or onnx.save", path: path)
        }
        guard !proto.opsetImport.isEmpty else {
            throw ONNXError(.corrupt, "the model imports no operator set (opset_import is empty, which ONNX does not "
                            + "allow); the file is truncated or damaged", path: path)
        }
        return ONNXFile(path: path, directory: ONNXPaths.parentDirectory(of: path), fileSize: bytes.count,
                        proto: proto)
    }

    private static func describe(_ error: BinaryDecodingError, bytes: UnsafeRawBufferPointer, path: String) -> ONNXError {
        let detected = FileSniffer.detect(bytes)
        if detected != .unknown {
            return ONNXError(.notONNX, "not an ONNX model: it looks like \(detected.rawValue)", path: path)
        }
        switch error {
        case .truncated:
            return ONNXError(.truncated, "truncated ONNX file: the protobuf ends inside a field (\(bytes.count) bytes); "
                             + "the file was cut short, copy or export it again", path: path)
        case .messageDepthLimit:
            return ONNXError(.corrupt, "the protobuf nests messages deeper than \(messageDepthLimit) levels; "
                             + "the file is damaged or hostile", path: path)
        case .invalidUTF8:
            return ONNXError(.corrupt, "a string field holds invalid UTF-8; the file is damaged", path: path)
        default:
            return ONNXError(.notONNX, "not an ONNX model: the bytes are not a valid protobuf (\(error)); "
                             + "the file is damaged or in another format", path: path)
        }
    }

    var graph: Onnx_GraphProto { proto.graph }

    /// The version of the default (`ai.onnx`) operator set, or `nil` when the model does not import it.
    var defaultOpset: Int64? {
        proto.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version
    }

    /// `IR 9, opset 20` for reports.
    var versionDescription: String {
        "IR \(proto.irVersion)" + (defaultOpset.map { ", opset \($0)" } ?? "")
    }
}
