import ModelKitCore
import ModelKitFormat

/// Writes an uncompressed zip archive laid out exactly as torch's writer (miniz, driven by
/// `caffe2/serialize/inline_container.cc`) lays it out, so that a reader can map tensors in place and torch may
/// compute record offsets instead of reading them (`.format_version` 1, `calculate_storage_offsets`).
///
/// torch's layout, which `torch.serialization._load` assumes when it computes offsets: every local header carries a
/// padding extra field (id `FB`, `Z` bytes, present even when zero bytes of padding are needed) after an optional
/// ZIP64 field, so that the data start at the next multiple of 64; a non-empty record has general-purpose flag bit 3
/// set, zeros for its CRC-32 and sizes in the local header, and a data descriptor after its data (16 bytes, or 24 when
/// the header offset or the size reaches 0xFFFFFFFF); an empty record has neither. torch also writes ZIP64 end records
/// always; here they appear only when needed, which moves no record. ZIPFoundation (behind
/// ``ZipArchiveWriter``) cannot do this, so this writes the records itself. The archive streams through
/// ``AtomicFileWriter``: tensors are written from their own memory, never concatenated first.
enum AlignedZipWriter {
    /// One member.
    struct Member {
        enum Body {
            case bytes([UInt8])
            case tensor(Tensor)
        }

        let name: String
        let body: Body

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            switch self.body {
            case .bytes(let bytes): try bytes.withUnsafeBytes(body)
            case .tensor(let tensor): try body(tensor.bytes)
            }
        }
    }

    /// Where member data begin.
    static let alignment = 64
    /// 1980-01-01 00:00 in MS-DOS form: a fixed time keeps the archive reproducible.
    private static let dosDate: UInt16 = 0x0021
    private static let paddingFieldID: UInt16 = 0x4246  // "FB", torch's padding field
    private static let zip64FieldID: UInt16 = 0x0001

    /// Writes `members` to `path` atomically.
    ///
    /// - Parameter zip64Threshold: sizes and offsets at or above this are written as ZIP64 (0xFFFFFFFF, the format's
    ///   and torch's limit; tests lower it to exercise the ZIP64 records with small files, which gives a layout torch
    ///   would not compute).
    /// - Throws: ``FileAccessError`` from the file system.
    static func write(_ members: [Member], to path: String, zip64Threshold: Int = 0xFFFF_FFFF) throws {
        try AtomicFileWriter.write(to: path) { sink in
            var central: [UInt8] = []
            for member in members {
                let offset = sink.bytesWritten
                let header = try member.withBytes { data in
                    let crc = CRC32.checksum(data)
                    let header = localHeader(name: member.name, size: data.count, offset: offset, threshold: zip64Threshold)
                    try sink.write(header)
                    try sink.write(data)
                    if !data.isEmpty {
                        try sink.write(dataDescriptor(crc: crc, size: data.count, offset: offset, threshold: zip64Threshold))
                    }
                    central += centralHeader(name: member.name, size: data.count, crc: crc, offset: offset, threshold: zip64Threshold)
                    return header
                }
                precondition((offset + header.count) % alignment == 0, "member data must be aligned")
            }
            let directoryOffset = sink.bytesWritten
            try sink.write(central)
            try sink.write(endRecords(count: members.count, directoryOffset: directoryOffset, directorySize: central.count,
                                      threshold: zip64Threshold))
        }
    }

    /// General-purpose flags: names are UTF-8; bit 3 (a data descriptor follows the data) for non-empty records.
    private static func flags(size: Int) -> UInt16 { size > 0 ? 0x0808 : 0x0800 }

    /// A local header as miniz writes it for torch (`getPadding` in `inline_container.cc` computes the same size).
    static func localHeader(name: String, size: Int, offset: Int, threshold: Int = 0xFFFF_FFFF) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        let largeSize = size >= threshold, largeOffset = offset >= threshold
        var extra = LittleEndianBytes()
        if largeSize || largeOffset {
            extra.u16(zip64FieldID)
            extra.u16(UInt16((largeSize ? 16 : 0) + (largeOffset ? 8 : 0)))
            if largeSize {
                extra.u64(size)
                extra.u64(size)
            }
            if largeOffset { extra.u64(offset) }
        }
        // The padding field is always there (4 bytes of header), then as many `Z` bytes as alignment needs.
        let unpadded = offset + 30 + nameBytes.count + extra.bytes.count + 4
        let padding = (alignment - unpadded % alignment) % alignment
        extra.u16(paddingFieldID)
        extra.u16(UInt16(padding))
        extra.bytes += [UInt8](repeating: 0x5A, count: padding)
        var header = LittleEndianBytes()
        header.u32(0x0403_4B50)
        header.u16(largeSize || largeOffset ? 45 : 20)  // version needed to extract
        header.u16(flags(size: size))
        header.u16(0)                 // method: stored
        header.u16(0)                 // time
        header.u16(dosDate)
        // With bit 3 the CRC-32 and sizes are in the data descriptor (and the central directory), as miniz writes.
        header.u32(0)
        header.u32(largeSize ? 0xFFFF_FFFF : 0)
        header.u32(largeSize ? 0xFFFF_FFFF : 0)
        header.u16(UInt16(nameBytes.count))
        header.u16(UInt16(extra.bytes.count))
        header.bytes += nameBytes + extra.bytes
        return header.bytes
    }

    /// The data descriptor after a non-empty record: 8-byte sizes when the header offset or the size needs ZIP64,
    /// which is the size torch adds when it computes the next record's offset.
    static func dataDescriptor(crc: UInt32, size: Int, offset: Int, threshold: Int = 0xFFFF_FFFF) -> [UInt8] {
        var descriptor = LittleEndianBytes()
        descriptor.u32(0x0807_4B50)
        descriptor.u32(crc)
        if size >= threshold || offset >= threshold {
            descriptor.u64(size)
            descriptor.u64(size)
        } else {
            descriptor.u32(UInt32(size))
            descriptor.u32(UInt32(size))
        }
        return descriptor.bytes
    }

    private static func centralHeader(name: String, size: Int, crc: UInt32, offset: Int, threshold: Int) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        let largeSize = size >= threshold, largeOffset = offset >= threshold
        // ZIP64 values appear for exactly the fields saturated at 0xFFFFFFFF, in this order.
        var zip64 = LittleEndianBytes()
        if largeSize {
            zip64.u64(size)
            zip64.u64(size)
        }
        if largeOffset { zip64.u64(offset) }
        var extra = LittleEndianBytes()
        if !zip64.bytes.isEmpty {
            extra.u16(zip64FieldID)
            extra.u16(UInt16(zip64.bytes.count))
            extra.bytes += zip64.bytes
        }
        let version: UInt16 = zip64.bytes.isEmpty ? 20 : 45
        var header = LittleEndianBytes()
        header.u32(0x0201_4B50)
        header.u16(0x0300 | version)  // made by: Unix
        header.u16(version)
        header.u16(flags(size: size))
        header.u16(0)
        header.u16(0)
        header.u16(dosDate)
        header.u32(crc)
        header.u32(largeSize ? 0xFFFF_FFFF : UInt32(size))
        header.u32(largeSize ? 0xFFFF_FFFF : UInt32(size))
        header.u16(UInt16(nameBytes.count))
        header.u16(UInt16(extra.bytes.count))
        header.u16(0)                 // comment length
        header.u16(0)                 // disk
        header.u16(0)                 // internal attributes
        header.u32(0o644 << 16)       // external attributes: rw-r--r--
        header.u32(largeOffset ? 0xFFFF_FFFF : UInt32(offset))
        header.bytes += nameBytes + extra.bytes
        return header.bytes
    }

    private static func endRecords(count: Int, directoryOffset: Int, directorySize: Int, threshold: Int) -> [UInt8] {
        let large = count >= min(0xFFFF, threshold) || directoryOffset >= threshold || directorySize >= threshold
        var end = LittleEndianBytes()
        if large {
            let recordOffset = directoryOffset + directorySize
            end.u32(0x0606_4B50)      // ZIP64 end of central directory record
            end.u64(44)
            end.u16(0x0300 | 45)
            end.u16(45)
            end.u32(0)
            end.u32(0)
            end.u64(count)
            end.u64(count)
            end.u64(directorySize)
            end.u64(directoryOffset)
            end.u32(0x0706_4B50)      // its locator
            end.u32(0)
            end.u64(recordOffset)
            end.u32(1)
        }
        end.u32(0x0605_4B50)
        end.u16(0)
        end.u16(0)
        end.u16(large ? 0xFFFF : UInt16(count))
        end.u16(large ? 0xFFFF : UInt16(count))
        end.u32(large ? 0xFFFF_FFFF : UInt32(directorySize))
        end.u32(large ? 0xFFFF_FFFF : UInt32(directoryOffset))
        end.u16(0)
        return end.bytes
    }
}

/// Appends little-endian integers to a byte array.
struct LittleEndianBytes {
    var bytes: [UInt8] = []

    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: Int) { withUnsafeBytes(of: UInt64(value).littleEndian) { bytes += $0 } }
}
