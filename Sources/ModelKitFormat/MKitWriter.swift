import ModelKitCore

/// Writes the binary `.mkit` form: preamble, header, 64-byte-aligned tensors (Specs/format.md W1–W3), raw or
/// compressed with `shuffle-zlib` (Specs/checkpoint.md).
public enum MKitWriter {
    /// What is written for one tensor: its raw bytes, or its compressed form.
    enum Payload {
        case raw(Tensor)
        case encoded(ShuffleZlibEncoding.Encoded)

        var count: Int {
            switch self {
            case .raw(let tensor): tensor.byteCount
            case .encoded(let encoded): encoded.bytes.count
            }
        }
    }

    /// The header and the tensors' placement for `model` (uncompressed), computed without writing anything.
    public static func layout(_ model: Model) -> (header: ModelHeader, headerBytes: [UInt8], dataStart: Int) {
        let plan = makePlan(model, payloads: model.tensors.map { .raw($0.tensor) })
        return (plan.header, plan.headerBytes, plan.dataStart)
    }

    /// Writes `model` to `path` atomically; with `compression`, every tensor is stored `shuffle-zlib` at that level
    /// and the file is format 1.1.
    public static func write(_ model: Model, to path: String, compression: Zlib.Level? = nil) throws {
        let payloads: [Payload]
        if let compression {
            // A tensor that does not shrink (tiny or random) stays raw: it reads faster and the file is smaller.
            payloads = try model.tensors.map { entry in
                let encoded = try ShuffleZlibEncoding.encode(entry.tensor, level: compression)
                return encoded.bytes.count < entry.tensor.byteCount ? .encoded(encoded) : .raw(entry.tensor)
            }
        } else {
            payloads = model.tensors.map { .raw($0.tensor) }
        }
        let plan = makePlan(model, payloads: payloads)
        let compressed = payloads.contains { if case .encoded = $0 { true } else { false } }
        // Files without compressed tensors stay 1.0 so that 1.0 readers keep reading them.
        let minor: UInt16 = compressed ? 1 : 0
        var preamble = FileSniffer.mkitMagic
        append(UInt16(FormatVersion.current.major), to: &preamble)
        append(minor, to: &preamble)
        append(UInt32(0), to: &preamble)
        append(UInt64(plan.headerBytes.count), to: &preamble)
        let crc = CRC32.checksum(plan.headerBytes, continuing: CRC32.checksum(Array(preamble[8..<24])))
        append(crc, to: &preamble)
        append(UInt32(0), to: &preamble)
        try AtomicFileWriter.write(to: path) { sink in
            try sink.write(preamble)
            try sink.write(plan.headerBytes)
            try sink.writeZeros(plan.dataStart - sink.bytesWritten)
            for (descriptor, payload) in zip(plan.header.tensors, payloads) {
                try sink.writeZeros(plan.dataStart + descriptor.offset - sink.bytesWritten)
                switch payload {
                case .raw(let tensor): try sink.write(tensor.bytes)
                case .encoded(let encoded): try sink.write(encoded.bytes)
                }
            }
        }
    }

    static func makePlan(_ model: Model, payloads: [Payload]) -> (header: ModelHeader, headerBytes: [UInt8], dataStart: Int) {
        var offset = 0
        var descriptors: [TensorDescriptor] = []
        for (entry, payload) in zip(model.tensors, payloads) {
            var descriptor = TensorDescriptor(name: entry.name, dtype: entry.tensor.dtype, shape: entry.tensor.shape,
                                              layout: entry.layout, layoutSource: entry.layoutSource, offset: offset,
                                              length: payload.count, extra: entry.extra)
            switch payload {
            case .raw(let tensor):
                descriptor.crc32 = CRC32.checksum(tensor.bytes)
            case .encoded(let encoded):
                descriptor.encoding = ShuffleZlibEncoding.name
                descriptor.crc32 = CRC32.checksum(encoded.bytes)
                descriptor.chunks = encoded.chunks
            }
            descriptors.append(descriptor)
            offset = MKitReader.align(offset + payload.count)
        }
        let dataSize = descriptors.last.map { $0.offset + $0.length } ?? 0
        let header = ModelHeader(info: model.info, layers: model.layers, tensors: descriptors, dataSize: dataSize, extra: model.extra)
        let headerBytes = JSONWriter().bytes(.object(HeaderCodec.encode(header, form: .binary)))
        return (header, headerBytes, MKitReader.align(MKitReader.preambleLength + headerBytes.count))
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
