/// A bounds-checked little-endian cursor over untrusted bytes: every read either succeeds or throws, never traps.
///
/// All readers of file formats go through this type, so that a lying length can only produce an error.
///
/// ```swift
/// var reader = ByteReader(bytes)
/// let magic = try reader.readBytes(8)
/// let length = try reader.read(UInt64.self)
/// ```
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Bytes left after the cursor.
    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }

    /// Reads a little-endian integer.
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws(ByteReaderError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(offset: offset, needed: size, available: remaining) }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    /// Reads a big-endian integer.
    public mutating func readBigEndian<T: FixedWidthInteger>(_ type: T.Type) throws(ByteReaderError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(offset: offset, needed: size, available: remaining) }
        let value = T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    /// A view of the next `count` bytes (no copy). `count` is checked against what is left before anything else.
    public mutating func readBytes(_ count: Int) throws(ByteReaderError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw .truncated(offset: offset, needed: count, available: remaining) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    /// Reads a length (as `T`) that must fit in `Int` and in the bytes left; returns it as `Int`.
    public mutating func readLength<T: FixedWidthInteger>(_ type: T.Type, limit: Int = .max) throws(ByteReaderError) -> Int {
        let start = offset
        let raw = try read(type)
        guard let length = Int(exactly: raw), length >= 0, length <= limit else {
            throw .implausibleLength(offset: start, value: String(raw), limit: limit)
        }
        return length
    }

    /// Moves the cursor to an absolute offset inside the bytes.
    public mutating func seek(to newOffset: Int) throws(ByteReaderError) {
        guard newOffset >= 0, newOffset <= bytes.count else {
            throw .truncated(offset: offset, needed: newOffset - offset, available: remaining)
        }
        offset = newOffset
    }

    /// Skips `count` bytes.
    public mutating func skip(_ count: Int) throws(ByteReaderError) { _ = try readBytes(count) }
}

/// Why a ``ByteReader`` read failed.
public enum ByteReaderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The data ends before the `needed` bytes at `offset`.
    case truncated(offset: Int, needed: Int, available: Int)
    /// A length or count field holds a value that cannot be right.
    case implausibleLength(offset: Int, value: String, limit: Int)

    public var description: String {
        switch self {
        case .truncated(let offset, let needed, let available):
            "truncated: needs \(needed) bytes at offset \(offset), only \(max(available, 0)) left"
        case .implausibleLength(let offset, let value, let limit):
            "length field at offset \(offset) holds \(value), more than the limit \(limit) or the data"
        }
    }
}
