import ModelKitCore

/// Writes the binary `.mkit` form: preamble, header, 64-byte-aligned raw tensors (Specs/format.md W1–W3).
public enum MKitWriter {
    /// The header and the tensors' placement for `model`, computed without writing anything.
    public static func layout(_ model: Model) -> (header: ModelHeader, headerBytes: [UInt8], dataStart: Int) {
        var offset = 0
        var descriptors: [TensorDescriptor] = []
        for entry in model.tensors {
            let tensor = entry.tensor
            descriptors.append(TensorDescriptor(name: entry.name, dtype: tensor.dtype, shape: tensor.shape, layout: entry.layout,
                                                layoutSource: entry.layoutSource, offset: offset, length: tensor.byteCount,
                                                encoding: "raw", crc32: CRC32.checksum(tensor.bytes), extra: entry.extra))
            offset = MKitReader.align(offset + tensor.byteCount)
        }
        let dataSize = descriptors.last.map { $0.offset + $0.length } ?? 0
        let header = ModelHeader(info: model.info, layers: model.layers, tensors: descriptors, dataSize: dataSize, extra: model.extra)
        let headerBytes = JSONWriter().bytes(.object(HeaderCodec.encode(header, form: .binary)))
        return (header, headerBytes, MKitReader.align(MKitReader.preambleLength + headerBytes.count))
    }

    /// Writes `model` to `path` atomically.
    public static func write(_ model: Model, to path: String) throws {
        let (header, headerBytes, dataStart) = layout(model)
        var preamble = FileSniffer.mkitMagic
        append(UInt16(FormatVersion.current.major), to: &preamble)
        append(UInt16(FormatVersion.current.minor), to: &preamble)
        append(UInt32(0), to: &preamble)
        append(UInt64(headerBytes.count), to: &preamble)
        let crc = CRC32.checksum(headerBytes, continuing: CRC32.checksum(Array(preamble[8..<24])))
        append(crc, to: &preamble)
        append(UInt32(0), to: &preamble)
        try AtomicFileWriter.write(to: path) { sink in
            try sink.write(preamble)
            try sink.write(headerBytes)
            try sink.writeZeros(dataStart - sink.bytesWritten)
            for (descriptor, entry) in zip(header.tensors, model.tensors) {
                try sink.writeZeros(dataStart + descriptor.offset - sink.bytesWritten)
                try sink.write(entry.tensor.bytes)
            }
        }
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
