import ModelKitCore

/// The bytes of an HDF5 file and the sizes its superblock fixes. Every read is bounds-checked and every address is
/// checked against the file before it is followed, so a damaged or hostile file gives a ``KerasError``, never a read
/// outside the bytes (Specs/interop/keras.md, K10 and K23).
///
/// Only valid while `bytes` is: readers are built and used inside one call.
struct HDF5Image {
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    let bytes: UnsafeRawBufferPointer
    /// The file's name in messages (`model.keras[model.weights.h5]`).
    let label: String
    /// Where the superblock sits: file addresses count from here (libhdf5 makes the base address the superblock's).
    let base: Int
    /// The superblock's "size of offsets" (addresses) and "size of lengths", in bytes.
    let offsetSize: Int
    let lengthSize: Int
    /// The root group's object header, as an offset into `bytes`.
    let rootHeader: Int

    var count: Int { bytes.count }

    /// Finds and reads the superblock (versions 0 to 3) at byte 0, 512, 1024, … as libhdf5 does.
    init(bytes: UnsafeRawBufferPointer, label: String) throws(KerasError) {
        self.bytes = bytes
        self.label = label
        var candidate = 0
        var found: Int?
        while candidate + 8 <= bytes.count {
            if bytes[candidate..<candidate + 8].elementsEqual(Self.signature) { found = candidate; break }
            candidate = candidate == 0 ? 512 : candidate * 2
        }
        guard let superblock = found else {
            throw .hdf5(path: label, object: "/", reason: "no HDF5 superblock (signature \\x89HDF) at byte 0, 512, 1024, …")
        }
        base = superblock
        var cursor = HDF5Cursor(bytes: bytes, label: label, object: "superblock", range: superblock..<bytes.count)
        try cursor.skip(8)
        let version = Int(try cursor.byte())
        let sizesAt: Int
        switch version {
        case 0, 1: sizesAt = superblock + 13
        case 2, 3: sizesAt = superblock + 9
        default: throw .hdf5(path: label, object: "superblock", reason: "superblock version \(version) is not one HDF5 defines (0 to 3)")
        }
        try cursor.seek(to: sizesAt)
        offsetSize = Int(try cursor.byte())
        lengthSize = Int(try cursor.byte())
        guard [2, 4, 8].contains(offsetSize), [2, 4, 8].contains(lengthSize) else {
            throw .hdf5(path: label, object: "superblock",
                        reason: "addresses of \(offsetSize) bytes and lengths of \(lengthSize) bytes; HDF5 writers use 2, 4 or 8")
        }
        var sizes = cursor
        sizes.offsetSize = offsetSize
        sizes.lengthSize = lengthSize
        let root: UInt64?
        if version < 2 {
            // Sizes, reserved, leaf K, internal K, consistency flags (+ indexed storage K and reserved in version 1),
            // then base, free-space, end-of-file and driver addresses, then the root group's symbol table entry:
            // link name offset, then the object header address.
            try sizes.seek(to: superblock + 24 + (version == 1 ? 4 : 0))
            try sizes.skip(4 * offsetSize + offsetSize)
            root = try sizes.rawAddress()
        } else {
            // Sizes, consistency flags, then base, superblock extension, end-of-file and root object header addresses.
            try sizes.seek(to: superblock + 12)
            try sizes.skip(3 * offsetSize)
            root = try sizes.rawAddress()
        }
        guard let root, let rootOffset = Self.absolute(root, base: superblock, count: bytes.count) else {
            throw .hdf5(path: label, object: "/", reason: "the root group's address is outside the file (truncated or damaged)")
        }
        rootHeader = rootOffset
    }

    /// `address` as an offset into the bytes, or `nil` when it points outside them.
    static func absolute(_ address: UInt64, base: Int, count: Int) -> Int? {
        guard address < UInt64(Int.max) else { return nil }
        let (offset, overflow) = base.addingReportingOverflow(Int(address))
        return !overflow && offset < count ? offset : nil
    }

    /// A cursor over `range` (which must lie in the file) for reading the structure named `object`.
    func cursor(_ range: Range<Int>, object: String) throws(KerasError) -> HDF5Cursor {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw .hdf5(path: label, object: object,
                        reason: "bytes \(range.lowerBound)..<\(range.upperBound) are past the end of the \(count)-byte file (truncated or damaged)")
        }
        var cursor = HDF5Cursor(bytes: bytes, label: label, object: object, range: range)
        cursor.offsetSize = offsetSize
        cursor.lengthSize = lengthSize
        return cursor
    }

    /// A cursor from `offset` to the end of the file.
    func cursor(at offset: Int, object: String) throws(KerasError) -> HDF5Cursor {
        try cursor(offset..<max(offset, count), object: object)
    }

    /// Resolves a file address read from a structure: `nil` for the undefined address, an error when it points
    /// outside the file.
    func resolve(_ address: UInt64?, object: String, what: String) throws(KerasError) -> Int? {
        guard let address else { return nil }
        guard let offset = Self.absolute(address, base: base, count: count) else {
            throw .hdf5(path: label, object: object, reason: "\(what) points to address \(address), past the end of the \(count)-byte file")
        }
        return offset
    }
}

/// Little-endian reads from a checked range of an ``HDF5Image``: the project's ``ByteReader`` over the file's bytes
/// up to the range's end, with offsets that stay file offsets and errors that name the HDF5 object.
struct HDF5Cursor {
    let label: String
    /// What is being read, for messages (`/model_weights`, `superblock`).
    let object: String
    let range: Range<Int>
    private var reader: ByteReader
    var offsetSize = 8
    var lengthSize = 8

    init(bytes: UnsafeRawBufferPointer, label: String, object: String, range: Range<Int>) {
        self.label = label
        self.object = object
        self.range = range
        reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[..<range.upperBound]), offset: range.lowerBound)
    }

    var offset: Int { reader.offset }
    var remaining: Int { reader.remaining }

    private func failure(_ error: ByteReaderError) -> KerasError {
        .hdf5(path: label, object: object, reason: "\(error) (the structure ends at byte \(range.upperBound))")
    }

    /// Moves to `newOffset`, which must lie inside the range.
    mutating func seek(to newOffset: Int) throws(KerasError) {
        guard newOffset >= range.lowerBound else {
            throw .hdf5(path: label, object: object, reason: "byte \(newOffset) is before the structure at byte \(range.lowerBound)")
        }
        do { try reader.seek(to: newOffset) } catch { throw failure(error) }
    }

    mutating func skip(_ count: Int) throws(KerasError) {
        do { try reader.skip(count) } catch { throw failure(error) }
    }

    mutating func byte() throws(KerasError) -> UInt8 {
        do { return try reader.read(UInt8.self) } catch { throw failure(error) }
    }

    /// An unsigned little-endian integer of `size` bytes: 1, 2, 4 or 8, the widths HDF5 fields take (the
    /// superblock's sizes are checked to be 2, 4 or 8; flag-chosen widths are `1 << (flags & 3)`).
    mutating func unsigned(_ size: Int) throws(KerasError) -> UInt64 {
        do throws(ByteReaderError) {
            switch size {
            case 1: return UInt64(try reader.read(UInt8.self))
            case 2: return UInt64(try reader.read(UInt16.self))
            case 4: return UInt64(try reader.read(UInt32.self))
            default: return try reader.read(UInt64.self)
            }
        } catch {
            throw failure(error)
        }
    }

    mutating func u16() throws(KerasError) -> Int { Int(try unsigned(2)) }
    mutating func u32() throws(KerasError) -> Int { Int(try unsigned(4)) }

    /// A length field, which must fit in an `Int`.
    mutating func length() throws(KerasError) -> Int {
        let value = try unsigned(lengthSize)
        guard value <= UInt64(Int.max) else {
            throw .hdf5(path: label, object: object, reason: "a length of \(value) bytes at byte \(offset - lengthSize)")
        }
        return Int(value)
    }

    /// An address field; `nil` for the undefined address (all bits set).
    mutating func rawAddress() throws(KerasError) -> UInt64? {
        let value = try unsigned(offsetSize)
        let undefined = offsetSize == 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(offsetSize))) - 1
        return value == undefined ? nil : value
    }

    /// `count` bytes as a range of the file.
    mutating func take(_ count: Int) throws(KerasError) -> Range<Int> {
        let start = offset
        try skip(count)
        return start..<(start + count)
    }

    /// The next bytes must be `signature`.
    mutating func expect(_ signature: String, what: String) throws(KerasError) {
        let expected = Array(signature.utf8)
        let start = offset
        let found: UnsafeRawBufferPointer
        do { found = try reader.readBytes(expected.count) } catch { throw failure(error) }
        guard found.elementsEqual(expected) else {
            throw .hdf5(path: label, object: object, reason: "no \(what) ('\(signature)') at byte \(start); the file is damaged")
        }
    }
}
