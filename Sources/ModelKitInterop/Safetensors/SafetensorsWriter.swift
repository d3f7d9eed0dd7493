import ModelKitCore
import ModelKitFormat

/// Lays out a safetensors file the way the reference writer does (`safetensors/src/tensor.rs`, `prepare`), so that
/// our files are byte-identical to what `safetensors.torch.save_file` writes for the same tensors and metadata:
///
/// - tensors sorted by dtype alignment, largest first (I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL), then by
///   name (byte order), their data packed back to back in that order;
/// - the header is compact JSON: `__metadata__` first when there is any (its keys sorted, where the reference's
///   order is that of a hash map), then each tensor as `{"dtype", "shape", "data_offsets"}`;
/// - the header is padded with spaces to a multiple of 8 bytes.
enum SafetensorsWriter {
    /// The tensors in the order they are written, with their data offsets, and the header bytes (padded).
    static func layout(_ tensors: [ModelTensor], metadata: [String: String],
                       path: String) throws(SafetensorsError) -> (ordered: [ModelTensor], header: [UInt8]) {
        var seen = Set<String>()
        for tensor in tensors {
            guard tensor.name != "__metadata__" else {
                throw .cannotWrite(path: path, reason: "a tensor cannot be named __metadata__ (the header's metadata key)")
            }
            guard seen.insert(tensor.name).inserted else {
                throw .cannotWrite(path: path, reason: "two tensors are named \(MessageText.quoted(tensor.name))")
            }
        }
        let ordered = tensors.sorted { left, right in
            let (a, b) = (SafetensorsDType.alignmentRank(of: left.tensor.dtype), SafetensorsDType.alignmentRank(of: right.tensor.dtype))
            if a != b { return a > b }
            return Array(left.name.utf8).lexicographicallyPrecedes(Array(right.name.utf8))
        }
        var header = JSONObject()
        if !metadata.isEmpty {
            let keys = metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            header["__metadata__"] = .object(JSONObject(keys.map { ($0, .string(metadata[$0] ?? "")) }))
        }
        var offset = 0
        for entry in ordered {
            let (end, overflow) = offset.addingReportingOverflow(entry.tensor.byteCount)
            guard !overflow else { throw .cannotWrite(path: path, reason: "the tensors hold more bytes than a file can") }
            header[entry.name] = .object(JSONObject([
                ("dtype", .string(SafetensorsDType.name(of: entry.tensor.dtype))),
                ("shape", .array(entry.tensor.shape.dimensions.map { .integer($0) })),
                ("data_offsets", .array([.integer(offset), .integer(end)])),
            ]))
            offset = end
        }
        var bytes = JSONWriter().bytes(.object(header))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
        guard bytes.count <= SafetensorsHeader.maximumHeaderSize else {
            throw .cannotWrite(path: path, reason: "the header would be \(bytes.count) bytes, over the format's \(SafetensorsHeader.maximumHeaderSize)-byte limit")
        }
        return (ordered, bytes)
    }

    /// Writes the file atomically: the 8-byte header size, the header, then each tensor's bytes (no copies).
    static func write(_ tensors: [ModelTensor], metadata: [String: String], to path: String) throws {
        let (ordered, header) = try layout(tensors, metadata: metadata, path: path)
        try AtomicFileWriter.write(to: path) { sink in
            let size = UInt64(header.count)
            try sink.write((0..<8).map { UInt8(truncatingIfNeeded: size >> (8 * $0)) } + header)
            for entry in ordered { try sink.write(entry.tensor.bytes) }
        }
    }
}
