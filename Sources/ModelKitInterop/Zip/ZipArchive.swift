import ModelKitCore
import ModelKitFormat

/// A zip archive read from a memory-mapped file, with every record checked before it is trusted.
///
/// This is our own reader rather than ZIPFoundation's `Archive`, because ZIPFoundation 0.9.20 is unsafe on hostile
/// input in three ways (see Specs/interop/numpy.md, "Zip safety"): `extract(_:consumer:)` returns the CRC-32 without
/// comparing it, a stored member is read for as many bytes as its central directory claims (running into the next
/// records), and a deflate stream that does not terminate makes it loop forever. Here stored members are viewed in
/// place without a copy, deflated members are inflated into memory (never to disk) and stop at the declared size,
/// and every member's CRC-32 is checked.
///
/// ```swift
/// let archive = try ZipArchive.open("weights.npz")
/// for member in archive.members {
///     let contents = try archive.contents(of: member)   // storage + range: tensors can view it
///     print(member.name, contents.count)
/// }
/// ```
public struct ZipArchive: Sendable {
    /// Limits that bound the memory a hostile archive can make us use.
    public struct Limits: Sendable {
        /// The most members an archive may have.
        public var maximumMemberCount: Int
        /// The most bytes a deflated member may inflate to (they are held in memory).
        public var maximumInflatedSize: Int
        /// The most a deflated member may expand relative to its compressed size. Deflate cannot exceed 1032:1, so
        /// a larger declared ratio is a lie.
        public var maximumCompressionRatio: Int

        /// - Parameters:
        ///   - maximumMemberCount: The most members accepted (default 65 536).
        ///   - maximumInflatedSize: The most bytes one deflated member may inflate to (default 8 GiB).
        ///   - maximumCompressionRatio: The largest uncompressed ÷ compressed size accepted (default 1032).
        public init(maximumMemberCount: Int = 65_536, maximumInflatedSize: Int = 8 << 30,
                    maximumCompressionRatio: Int = 1032) {
            self.maximumMemberCount = maximumMemberCount
            self.maximumInflatedSize = maximumInflatedSize
            self.maximumCompressionRatio = maximumCompressionRatio
        }
    }

    /// One file inside the archive, as its central directory describes it.
    public struct Member: Sendable, Equatable {
        /// How the member's bytes are stored.
        public enum Method: Sendable, Equatable {
            /// Uncompressed (zip method 0): readable in place.
            case stored
            /// Deflate (zip method 8).
            case deflated
        }

        /// The member's path inside the archive (checked: relative, no `..`, no backslashes).
        public let name: String
        /// Stored or deflated.
        public let method: Method
        /// Bytes the member occupies in the archive.
        public let compressedSize: Int
        /// Bytes the member holds once extracted.
        public let uncompressedSize: Int
        /// The CRC-32 the archive records for the extracted bytes.
        public let crc32: UInt32
        /// Where the member's (compressed) bytes begin in the archive file.
        public let dataOffset: Int

        /// Whether the entry is a directory (its name ends with `/`).
        public var isDirectory: Bool { name.hasSuffix("/") }
    }

    /// The archive's path (or a label for archives read from memory), used in error messages.
    public let path: String
    /// The members in central-directory order (the order the archive was written in).
    public let members: [Member]
    let storage: TensorStorage
    let limits: Limits

    /// Opens and checks the archive at `path`; the file is memory-mapped, not read.
    ///
    /// - Throws: ``ZipArchiveError`` when the file cannot be opened, is not a zip, or its records are inconsistent.
    public static func open(_ path: String, limits: Limits = Limits()) throws(ZipArchiveError) -> ZipArchive {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .cannotOpen(error) }
        return try ZipArchive(storage: storage, path: path, limits: limits)
    }

    /// Reads the archive held in `storage`.
    ///
    /// - Parameters:
    ///   - storage: The whole archive file.
    ///   - path: The name used in error messages.
    ///   - limits: Bounds on member count and inflated sizes.
    /// - Throws: ``ZipArchiveError``.
    public init(storage: TensorStorage, path: String, limits: Limits = Limits()) throws(ZipArchiveError) {
        self.storage = storage
        self.path = path
        self.limits = limits
        self.members = try ZipDirectoryParser(bytes: storage.bytes, path: path, limits: limits).parse()
    }

    /// The member named `name`, if there is one.
    public func member(named name: String) -> Member? {
        members.first { $0.name == name }
    }

    /// The names of all members, in archive order.
    public var memberNames: [String] { members.map(\.name) }
}

/// The extracted bytes of one member: a region of the mapped archive (stored members) or new memory (deflated).
public struct ZipMemberContents: Sendable {
    /// The storage holding the bytes; tensors can view it directly.
    public let storage: TensorStorage
    /// Where the member's bytes lie in ``storage``.
    public let range: Range<Int>

    /// The number of bytes.
    public var count: Int { range.count }

    /// Calls `body` with the member's bytes, which stay valid only during the call (the storage may be freed as
    /// soon as this value is gone, so the pointer must not escape).
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withExtendedLifetime(storage) { try body(UnsafeRawBufferPointer(rebasing: storage.bytes[range])) }
    }

    /// A copy of the member's bytes.
    public func copyBytes() -> [UInt8] { withUnsafeBytes { Array($0) } }
}

/// Walks the end record and the central directory, checking each field before using it.
struct ZipDirectoryParser {
    let bytes: UnsafeRawBufferPointer
    let path: String
    let limits: ZipArchive.Limits

    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let centralSignature: UInt32 = 0x0201_4B50
    private static let localSignature: UInt32 = 0x0403_4B50

    private struct Directory {
        var entryCount: Int
        var offset: Int
        var size: Int
        /// Where the records that follow the central directory begin; the directory must end there.
        var end: Int
    }

    func parse() throws(ZipArchiveError) -> [ZipArchive.Member] {
        let directory = try readEndRecords()
        guard directory.entryCount <= limits.maximumMemberCount else {
            throw .corrupt(path: path, reason: "\(directory.entryCount) members, more than the limit of \(limits.maximumMemberCount)")
        }
        var reader = ByteReader(bytes, offset: directory.offset)
        var members: [ZipArchive.Member] = []
        var spans: [(start: Int, end: Int, name: String)] = []
        var seen = Set<String>()
        members.reserveCapacity(directory.entryCount)
        for index in 0..<directory.entryCount {
            let (member, headerOffset) = try readCentralEntry(&reader, index: index)
            guard !seen.contains(member.name) else { throw .duplicateMember(path: path, member: member.name) }
            seen.insert(member.name)
            let (end, overflow) = member.dataOffset.addingReportingOverflow(member.compressedSize)
            guard !overflow, end <= directory.offset else {
                throw .corrupt(path: path, reason: "member \(MessageText.quoted(member.name)) claims \(member.compressedSize) bytes at offset "
                    + "\(member.dataOffset), past the central directory at \(directory.offset) (a lying size)")
            }
            spans.append((headerOffset, end, member.name))
            members.append(member)
        }
        guard reader.offset <= directory.end else {
            throw .corrupt(path: path, reason: "the central directory runs \(reader.offset - directory.end) bytes past its recorded size")
        }
        // Overlapping members let a small archive expand many times over (the "overlapping files" zip bomb).
        spans.sort { $0.start < $1.start }
        for (first, second) in zip(spans, spans.dropFirst()) where first.end > second.start {
            throw .corrupt(path: path, reason: "members \(MessageText.quoted(first.name)) and \(MessageText.quoted(second.name)) overlap")
        }
        return members
    }

    /// Finds the end of central directory record (and the ZIP64 one when present).
    private func readEndRecords() throws(ZipArchiveError) -> Directory {
        let minimum = 22
        guard bytes.count >= minimum else {
            throw notZipOrTruncated(reason: "is \(bytes.count) bytes, shorter than the smallest zip (22)")
        }
        // The record sits at the end, followed only by its comment (at most 65 535 bytes).
        var candidate = bytes.count - minimum
        let lowest = max(0, candidate - 0xFFFF)
        var found: Int?
        while candidate >= lowest {
            if bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self).littleEndian == Self.endSignature {
                let commentLength = Int(bytes.loadUnaligned(fromByteOffset: candidate + 20, as: UInt16.self).littleEndian)
                if candidate + minimum + commentLength == bytes.count { found = candidate; break }
            }
            candidate -= 1
        }
        guard let endOffset = found else {
            throw notZipOrTruncated(reason: "has no end-of-central-directory record")
        }
        var reader = ByteReader(bytes, offset: endOffset + 4)
        let disk = try read(&reader, UInt16.self, "end record")
        let directoryDisk = try read(&reader, UInt16.self, "end record")
        _ = try read(&reader, UInt16.self, "end record")
        let count16 = try read(&reader, UInt16.self, "end record")
        let size32 = try read(&reader, UInt32.self, "end record")
        let offset32 = try read(&reader, UInt32.self, "end record")
        var directory = Directory(entryCount: Int(count16), offset: Int(offset32), size: Int(size32), end: endOffset)

        let locatorOffset = endOffset - 20
        if locatorOffset >= 0,
           bytes.loadUnaligned(fromByteOffset: locatorOffset, as: UInt32.self).littleEndian == Self.zip64LocatorSignature {
            var locator = ByteReader(bytes, offset: locatorOffset + 8)
            let recordOffset = try readOffset(&locator, "ZIP64 end locator")
            guard recordOffset <= locatorOffset - 56 else {
                throw .corrupt(path: path, reason: "the ZIP64 end record offset \(recordOffset) is not before its locator")
            }
            var record = ByteReader(bytes, offset: recordOffset)
            guard try read(&record, UInt32.self, "ZIP64 end record") == Self.zip64EndSignature else {
                throw .corrupt(path: path, reason: "no ZIP64 end record at offset \(recordOffset)")
            }
            try skip(&record, 8 + 2 + 2 + 4 + 4 + 8, "ZIP64 end record")
            directory.entryCount = try readOffset(&record, "ZIP64 end record")
            directory.size = try readOffset(&record, "ZIP64 end record")
            directory.offset = try readOffset(&record, "ZIP64 end record")
            directory.end = recordOffset
        } else if disk != 0 || directoryDisk != 0 {
            throw .unsupported(path: path, member: nil, feature: "split (multi-disk) archives")
        }
        let (directoryEnd, overflow) = directory.offset.addingReportingOverflow(directory.size)
        guard !overflow, directoryEnd <= directory.end else {
            throw .corrupt(path: path, reason: "the central directory (\(directory.size) bytes at offset \(directory.offset)) "
                + "runs past the end record at \(directory.end)")
        }
        // Each central entry takes at least 46 bytes: a count the directory cannot hold is a lie.
        guard directory.entryCount <= directory.size / 46 else {
            throw .corrupt(path: path, reason: "\(directory.entryCount) members cannot fit in a \(directory.size)-byte central directory")
        }
        directory.end = directoryEnd
        return directory
    }

    private func readCentralEntry(_ reader: inout ByteReader, index: Int) throws(ZipArchiveError) -> (ZipArchive.Member, Int) {
        let what = "central directory entry \(index)"
        let start = reader.offset
        guard try read(&reader, UInt32.self, what) == Self.centralSignature else {
            throw .corrupt(path: path, reason: "\(what) at offset \(start) has a bad signature")
        }
        try skip(&reader, 4, what)
        let flags = try read(&reader, UInt16.self, what)
        let methodCode = try read(&reader, UInt16.self, what)
        try skip(&reader, 4, what)
        let crc = try read(&reader, UInt32.self, what)
        var compressedSize = UInt64(try read(&reader, UInt32.self, what))
        var uncompressedSize = UInt64(try read(&reader, UInt32.self, what))
        let nameLength = Int(try read(&reader, UInt16.self, what))
        let extraLength = Int(try read(&reader, UInt16.self, what))
        let commentLength = Int(try read(&reader, UInt16.self, what))
        let diskStart = try read(&reader, UInt16.self, what)
        try skip(&reader, 6, what)
        var headerOffset = UInt64(try read(&reader, UInt32.self, what))
        let nameBytes = try bytesAt(&reader, nameLength, what)
        let extra = try bytesAt(&reader, extraLength, what)
        try skip(&reader, commentLength, what)

        let name = try ZipMemberName.validated(nameBytes, archive: path)
        if flags & 0x0001 != 0 { throw .unsupported(path: path, member: name, feature: "encrypted members") }
        if diskStart != 0 && diskStart != 0xFFFF {
            throw .unsupported(path: path, member: name, feature: "split (multi-disk) archives")
        }
        // ZIP64: the extra field holds 64-bit values for exactly the fields saturated at 0xFFFFFFFF, in this order.
        if compressedSize == 0xFFFF_FFFF || uncompressedSize == 0xFFFF_FFFF || headerOffset == 0xFFFF_FFFF {
            var zip64 = try zip64Field(in: extra, member: name)
            if uncompressedSize == 0xFFFF_FFFF { uncompressedSize = try read(&zip64, UInt64.self, "ZIP64 field of \(MessageText.quoted(name))") }
            if compressedSize == 0xFFFF_FFFF { compressedSize = try read(&zip64, UInt64.self, "ZIP64 field of \(MessageText.quoted(name))") }
            if headerOffset == 0xFFFF_FFFF { headerOffset = try read(&zip64, UInt64.self, "ZIP64 field of \(MessageText.quoted(name))") }
        }
        let method: ZipArchive.Member.Method
        switch methodCode {
        case 0: method = .stored
        case 8: method = .deflated
        default: throw .unsupported(path: path, member: name, feature: "compression method \(methodCode) (only stored and deflate)")
        }
        guard let compressed = Int(exactly: compressedSize), let uncompressed = Int(exactly: uncompressedSize),
              let localOffset = Int(exactly: headerOffset), compressed <= bytes.count, localOffset < bytes.count else {
            throw .corrupt(path: path, reason: "member \(MessageText.quoted(name)) records sizes or an offset beyond the \(bytes.count)-byte file")
        }
        try checkDeclaredSize(name: name, method: method, compressed: compressed, uncompressed: uncompressed)
        let dataOffset = try localDataOffset(at: localOffset, name: name, nameBytes: nameBytes, methodCode: methodCode)
        let member = ZipArchive.Member(name: name, method: method, compressedSize: compressed,
                                       uncompressedSize: uncompressed, crc32: crc, dataOffset: dataOffset)
        return (member, localOffset)
    }

    /// A declared size is only believed when the archive could actually hold it.
    private func checkDeclaredSize(name: String, method: ZipArchive.Member.Method, compressed: Int,
                                   uncompressed: Int) throws(ZipArchiveError) {
        switch method {
        case .stored:
            guard compressed == uncompressed else {
                throw .sizeMismatch(path: path, member: name, declared: uncompressed,
                                    actual: "\(compressed) stored bytes (a stored member's sizes must agree)")
            }
        case .deflated:
            guard uncompressed <= limits.maximumInflatedSize else {
                throw .memberTooLarge(path: path, member: name, declared: uncompressed, limit: limits.maximumInflatedSize,
                                      why: "the most a deflated member may inflate to in memory")
            }
            let (ratioLimit, overflow) = max(compressed, 1).multipliedReportingOverflow(by: limits.maximumCompressionRatio)
            guard overflow || uncompressed <= ratioLimit else {
                throw .memberTooLarge(path: path, member: name, declared: uncompressed, limit: ratioLimit,
                                      why: "\(compressed) compressed bytes cannot inflate past \(limits.maximumCompressionRatio)×")
            }
        }
    }

    /// Checks the member's local header against the central entry and returns where its data begins.
    private func localDataOffset(at offset: Int, name: String, nameBytes: UnsafeRawBufferPointer,
                                 methodCode: UInt16) throws(ZipArchiveError) -> Int {
        let what = "local header of \(MessageText.quoted(name))"
        var reader = ByteReader(bytes, offset: offset)
        guard try read(&reader, UInt32.self, what) == Self.localSignature else {
            throw .corrupt(path: path, reason: "the \(what) at offset \(offset) has a bad signature")
        }
        try skip(&reader, 4, what)
        guard try read(&reader, UInt16.self, what) == methodCode else {
            throw .corrupt(path: path, reason: "the \(what) disagrees with the central directory on the compression method")
        }
        try skip(&reader, 16, what)
        let nameLength = Int(try read(&reader, UInt16.self, what))
        let extraLength = Int(try read(&reader, UInt16.self, what))
        let localName = try bytesAt(&reader, nameLength, what)
        guard localName.elementsEqual(nameBytes) else {
            throw .corrupt(path: path, reason: "the \(what) names a different file than the central directory")
        }
        try skip(&reader, extraLength, what)
        return reader.offset
    }

    private func zip64Field(in extra: UnsafeRawBufferPointer, member: String) throws(ZipArchiveError) -> ByteReader {
        var reader = ByteReader(extra)
        while reader.remaining >= 4 {
            let id = try read(&reader, UInt16.self, "extra field of \(MessageText.quoted(member))")
            let length = Int(try read(&reader, UInt16.self, "extra field of \(MessageText.quoted(member))"))
            let body = try bytesAt(&reader, length, "extra field of \(MessageText.quoted(member))")
            if id == 0x0001 { return ByteReader(body) }
        }
        throw .corrupt(path: path, reason: "member \(MessageText.quoted(member)) has 64-bit sizes but no ZIP64 extra field")
    }

    private func notZipOrTruncated(reason: String) -> ZipArchiveError {
        let detected = FileSniffer.detect(bytes)
        if detected == .zip {
            return .corrupt(path: path, reason: "the file \(reason); it was probably cut short, download or copy it again")
        }
        return .notAZipArchive(path: path, detected: detected.rawValue)
    }

    // Bounds-checked reads that turn ByteReader's errors into archive errors naming the structure.

    private func read<T: FixedWidthInteger>(_ reader: inout ByteReader, _ type: T.Type, _ what: String) throws(ZipArchiveError) -> T {
        do { return try reader.read(type) } catch { throw truncated(error, what) }
    }

    private func readOffset(_ reader: inout ByteReader, _ what: String) throws(ZipArchiveError) -> Int {
        let start = reader.offset
        let value = try read(&reader, UInt64.self, what)
        guard let result = Int(exactly: value), result <= bytes.count else {
            throw .corrupt(path: path, reason: "the \(what) at offset \(start) holds \(value), beyond the \(bytes.count)-byte file")
        }
        return result
    }

    private func bytesAt(_ reader: inout ByteReader, _ count: Int, _ what: String) throws(ZipArchiveError) -> UnsafeRawBufferPointer {
        do { return try reader.readBytes(count) } catch { throw truncated(error, what) }
    }

    private func skip(_ reader: inout ByteReader, _ count: Int, _ what: String) throws(ZipArchiveError) {
        do { try reader.skip(count) } catch { throw truncated(error, what) }
    }

    private func truncated(_ error: ByteReaderError, _ what: String) -> ZipArchiveError {
        switch error {
        case .truncated(let offset, let needed, let available):
            .truncated(path: path, what: what, offset: offset, needed: needed, available: available)
        case .implausibleLength(let offset, let value, _):
            .corrupt(path: path, reason: "the \(what) at offset \(offset) holds an impossible length \(value)")
        }
    }
}
