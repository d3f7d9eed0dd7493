import ModelKitFormat
import ModelKitCore

/// Builds `.mkit` bytes by hand, so tests can make files that break exactly one rule.
enum MKitBytes {
    static func build(header: String, data: [UInt8], major: UInt16 = 1, minor: UInt16 = 0, flags: UInt32 = 0,
                      headerCRC: UInt32? = nil, padding: UInt8 = 0, declaredHeaderLength: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        var bytes = FileSniffer.mkitMagic
        append(major, &bytes)
        append(minor, &bytes)
        append(flags, &bytes)
        append(declaredHeaderLength ?? UInt64(headerBytes.count), &bytes)
        let crc = headerCRC ?? CRC32.checksum(headerBytes, continuing: CRC32.checksum(Array(bytes[8..<24])))
        append(crc, &bytes)
        append(UInt32(0), &bytes)
        bytes += headerBytes
        while bytes.count % 64 != 0 { bytes.append(padding) }
        return bytes + data
    }

    static func append<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A valid one-layer header over `data` (a float32 [2, 2] weight at offset 0).
    static func header(offset: Int = 0, length: Int = 16, dataSize: Int = 16, crc: String? = nil, shape: String = "[2, 2]",
                       dtype: String = "float32", encoding: String = "raw", extraTensor: String = "", data: [UInt8]) -> String {
        let checksum = crc ?? CRC32.hex(CRC32.checksum(Array(data[min(offset, data.count)..<min(offset + length, data.count)])))
        return """
        {"model":{"name":"m","producer":"test","source_format":"modelkit","input":{"shape":[null,2],"dtype":"float32"},"metadata":{}},\
        "layers":[{"name":"fc","kind":"dense","attributes":{},"parameters":{"weight":"w"}}],\
        "tensors":[{"name":"w","dtype":"\(dtype)","shape":\(shape),"layout":"out_in","offset":\(offset),"length":\(length),\
        "encoding":"\(encoding)","crc32":"\(checksum)"}\(extraTensor)],"data_size":\(dataSize)}
        """
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        var bytes: [UInt8] = []
        for value in values { append(value.bitPattern, &bytes) }
        return bytes
    }

    static func read(_ bytes: [UInt8], checksums: ChecksumPolicy = .enforce) throws -> LoadedModel {
        try MKitReader.read(storage: TensorStorage(copying: bytes), checksums: checksums)
    }
}
