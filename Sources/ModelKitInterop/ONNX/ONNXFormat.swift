import ModelKitCore
import ModelKitFormat
import SwiftProtobuf

/// Reads and writes ONNX models (`.onnx`): import of dense chains, inspection of any model, export.
///
/// Specs/interop/onnx.md lists the ops that map to layers, how each attribute is handled, and what export writes.
///
/// ```swift
/// let loaded = try ONNXFormat.read(path: "classifier.onnx")          // Gemm/MatMul chains → Model
/// let summary = try ONNXFormat.summary(path: "resnet50.onnx")        // any model: opsets, nodes, initializers
/// let weights = try ONNXFormat.readWeights(path: "resnet50.onnx")    // every initializer, for weight-only formats
/// try ONNXFormat.write(loaded.model, to: "copy.onnx")                // opset 17, IR 8, dynamic batch
/// ```
public enum ONNXFormat {
    /// The default-domain opset export writes (17).
    public static let exportOpsetVersion = ONNXWriter.opsetVersion
    /// The IR version export writes (8).
    public static let exportIRVersion = ONNXWriter.irVersion

    /// Reads the ONNX model at `path` and maps its graph to a chain of ModelKit layers.
    ///
    /// - Parameters:
    ///   - path: The `.onnx` file. Tensors stored as external data must lie in files inside its folder.
    ///   - outputName: The graph output to map; by default the first floating-point output. Only the nodes that
    ///     output needs are considered, so other outputs' branches may use any op.
    /// - Returns: The model (weights keep the file's tensor names and dtypes, with layout source `declared`),
    ///   `formatName` `ONNX`, `formatVersion` such as `IR 9, opset 20`, and notes on everything skipped or folded.
    /// - Throws: ``ONNXError``: `.notONNX`, `.truncated`, `.corrupt`, `.externalData` for bad files;
    ///   `.unsupported` naming the nodes and op types when the graph is not a chain ModelKit can map.
    public static func read(path: String, outputName: String? = nil) throws(ONNXError) -> LoadedModel {
        let file = try ONNXFile.open(path)
        let mapper = try ONNXChainMapper(file: file)
        let (model, notes) = try mapper.map(outputName: outputName)
        var loaded = LoadedModel(model: model, formatName: "ONNX", formatVersion: file.versionDescription,
                                 fileSize: file.fileSize, notes: notes)
        for entry in model.tensors {
            loaded.tensorEncodings[entry.name] = "raw"
            loaded.storedBytes[entry.name] = entry.tensor.byteCount
        }
        return loaded
    }

    /// Describes any ONNX model (opsets, producer, IR version, inputs and outputs with symbolic dims, every node,
    /// every initializer's type and shape) without decoding tensor data or mapping the graph.
    ///
    /// - Throws: ``ONNXError`` when the file is not a decodable ONNX model.
    public static func summary(path: String) throws(ONNXError) -> ONNXSummary {
        ONNXSummary(try ONNXFile.open(path))
    }

    /// Every initializer of the ONNX model at `path`, decoded, in file order (no layouts: the graph is not
    /// interpreted), so that any ONNX model's weights convert to a weight-only format.
    ///
    /// - Throws: ``ONNXError`` for a bad file, or `.unsupported` naming the initializers whose element type ModelKit
    ///   has no dtype for (strings, uint16/32/64, complex, float8, int4).
    public static func readWeights(path: String) throws(ONNXError) -> [ModelTensor] {
        let file = try ONNXFile.open(path)
        let decoder = ONNXTensorDecoder(path: path)
        let initializers = file.graph.initializer
        let unreadable = initializers.filter { ONNXDataType.dtype($0.dataType) == nil }
        guard unreadable.isEmpty else {
            let names = unreadable.map { "\(MessageText.quoted($0.name)) (\(ONNXDataType.name($0.dataType)))" }
            throw ONNXError(.unsupported, "\(unreadable.count) initializer(s) have element types ModelKit has no dtype "
                            + "for: \(MessageText.list(names))", path: path)
        }
        var seen = Set<String>()
        var tensors: [ModelTensor] = []
        for (index, proto) in initializers.enumerated() {
            let name = proto.name.isEmpty ? "initializer_\(index)" : proto.name
            guard seen.insert(name).inserted else {
                throw ONNXError(.corrupt, "two initializers are named \(MessageText.quoted(name)); the graph is invalid",
                                path: path)
            }
            let tensor = try decoder.decode(proto, what: "initializer \(MessageText.quoted(name))")
            tensors.append(ModelTensor(name: name, tensor: tensor))
        }
        return tensors
    }

    /// Writes `model` as an ONNX file that onnxruntime runs with the same outputs (opset 17, IR 8, input `input`
    /// and output `output` with a dynamic `batch` dimension, layer and tensor names kept, float32 weights).
    ///
    /// - Parameters:
    ///   - model: A valid model (``Model/analyze()`` reports no errors).
    ///   - path: The destination, written atomically.
    ///   - producerVersion: Written as `producer_version` next to `producer_name` `modelkit` (omitted when empty).
    /// - Throws: ``ONNXError`` `.invalidRequest` for a model that cannot be written, or the file system's error.
    public static func write(_ model: Model, to path: String, producerVersion: String = "") throws {
        var writer = ONNXWriter(model: model, path: path)
        let proto = try writer.build(producerVersion: producerVersion)
        let bytes: [UInt8]
        do { bytes = try proto.serializedBytes() } catch {
            throw ONNXError(.invalidRequest, "cannot encode the ONNX protobuf: \(error) (ONNX files are limited to "
                            + "2 GiB)", path: path)
        }
        try AtomicFileWriter.write(bytes, to: path)
    }

    /// Whether `bytes` (the start of a file) look like an ONNX model: a protobuf whose first field is
    /// `ir_version` (field 1, a small varint), followed by another `ModelProto` field. Cheap, for format sniffing;
    /// ``read(path:outputName:)`` does the real check.
    public static func looksLikeONNX(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 4, bytes[0] == 0x08, (1...64).contains(bytes[1]) else { return false }
        // ModelProto fields as the next tag: 2 producer_name, 3 producer_version, 4 domain (strings), 5 model_version
        // (varint), 6 doc_string, 7 graph, 8 opset_import, 14 metadata_props (length-delimited).
        return [0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72].contains(bytes[2])
    }
}
