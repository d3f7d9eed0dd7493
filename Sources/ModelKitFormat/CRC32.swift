import CModelKitZlib

/// CRC-32 (ISO-HDLC, as zlib's `crc32`), the checksum of `.mkit` headers and tensors (Specs/format.md C1).
public enum CRC32 {
    /// The checksum of `bytes`, continuing from `previous` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = UInt(previous)
        var offset = 0
        // zlib takes a 32-bit length; feed large buffers in pieces.
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            guard let base = bytes.baseAddress else { break }
            crc = crc32(crc, (base + offset).assumingMemoryBound(to: UInt8.self), uInt(chunk))
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The checksum of an array of bytes.
    public static func checksum(_ bytes: [UInt8], continuing previous: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: previous) }
    }

    /// Eight lowercase hex digits, as written in headers.
    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
