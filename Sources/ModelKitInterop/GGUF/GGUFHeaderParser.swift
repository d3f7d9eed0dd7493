import ModelKitCore
import ModelKitFormat

/// Parses everything before a GGUF file's data section (ggml `docs/gguf.md`, "File Structure") and checks where
/// every tensor's bytes lie, reading nothing of the data section itself.
///
/// Every count and length is checked against the bytes left before anything is allocated from it, arrays nest at
/// most ``maximumArrayDepth`` levels, and all size arithmetic is overflow-checked (Specs/interop/gguf.md, "Limits").
struct GGUFHeaderParser {
    static let magic: [UInt8] = Array("GGUF".utf8)
    /// Used when `general.alignment` is absent (ggml's `GGUF_DEFAULT_ALIGNMENT`).
    static let defaultAlignment = 32
    /// ggml's `GGML_MAX_DIMS`: ggml refuses files with more.
    static let maximumDimensions = 4
    /// Array-in-array levels accepted (ggml itself reads none; gguf-py any). Deeper is refused as hostile.
    static let maximumArrayDepth = 8
    /// Elements one metadata array may have: far above any real vocabulary (≤ 262,144 tokens) or merge list, and it
    /// bounds what a hostile file can make the reader allocate (each element is one ``GGUFValue``).
    static let maximumArrayCount = 1 << 22
    /// The spec's limit on key length (2¹⁶ − 1 bytes).
    static let maximumKeyLength = 65_535
    /// Smallest possible metadata entry: key length (8) + value type (4) + a 1-byte value.
    static let minimumEntrySize = 13
    /// Smallest possible tensor info: name length (8) + dimension count (4) + type (4) + offset (8).
    static let minimumTensorInfoSize = 24

    private var reader: ByteReader
    private let source: String

    private init(_ bytes: UnsafeRawBufferPointer, source: String) {
        self.reader = ByteReader(bytes)
        self.source = source
    }

    /// Parses the header of the GGUF file held in `bytes` (the whole file, usually memory-mapped).
    static func parse(_ bytes: UnsafeRawBufferPointer, source: String) throws(GGUFError) -> GGUFHeader {
        var parser = GGUFHeaderParser(bytes, source: source)
        return try parser.parse()
    }

    private mutating func parse() throws(GGUFError) -> GGUFHeader {
        try checkMagic()
        reader = ByteReader(reader.bytes, offset: 4)
        let version = try checkVersion(try read(UInt32.self, "the version field"))
        let countsOffset = reader.offset
        let rawTensorCount = try read(UInt64.self, "the tensor count")
        let rawEntryCount = try read(UInt64.self, "the metadata count")
        let entryCount = try count(rawEntryCount, minimumSize: Self.minimumEntrySize, "the metadata count", at: countsOffset + 8)

        var metadata: [GGUFMetadataEntry] = []
        metadata.reserveCapacity(capacity(entryCount, minimumSize: Self.minimumEntrySize))
        var seenKeys: [String: Int] = [:]
        for index in 0..<entryCount {
            let entryOffset = reader.offset
            guard let key = try readString("metadata entry \(index) key") else {
                throw .invalidMetadata(source: source, key: "entry \(index)", offset: entryOffset, reason: "the key is not valid UTF-8")
            }
            guard key.utf8.count <= Self.maximumKeyLength else {
                throw .invalidMetadata(source: source, key: "entry \(index)", offset: entryOffset,
                                       reason: "the key is \(key.utf8.count) bytes; GGUF keys are at most \(Self.maximumKeyLength)")
            }
            if let first = seenKeys[key] {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: entryOffset,
                                       reason: "duplicate key (entries \(first) and \(index)); ggml and gguf-py refuse such files")
            }
            seenKeys[key] = index
            let typeOffset = reader.offset
            let rawType = try read(UInt32.self, "metadata \(MessageText.quoted(key)) value type")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: typeOffset,
                                       reason: "unknown value type \(rawType); GGUF defines types 0 to 12")
            }
            metadata.append(GGUFMetadataEntry(key: key, value: try readValue(type, key: key, depth: 0)))
        }
        let alignment = try alignment(of: metadata, index: seenKeys)

        // Checked here, against what is left after the metadata, so that a file cut inside the metadata is reported
        // where it ends rather than as an impossible tensor count.
        let tensorCount = try count(rawTensorCount, minimumSize: Self.minimumTensorInfoSize, "the tensor count", at: countsOffset)
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(capacity(tensorCount, minimumSize: Self.minimumTensorInfoSize))
        var seenNames: [String: Int] = [:]
        for index in 0..<tensorCount {
            let info = try readTensorInfo(index: index)
            if let first = seenNames[info.name] {
                throw .invalidTensorInfo(source: source, tensor: info.name, index: index,
                                         reason: "duplicate tensor name (also tensor info \(first))")
            }
            seenNames[info.name] = index
            tensors.append(info)
        }
        let (dataOffset, overflow) = Self.aligned(reader.offset, to: alignment)
        guard !overflow else { throw .invalidAlignment(source: source, value: "\(alignment) (the data offset overflows)") }
        for index in tensors.indices { try place(&tensors[index], dataOffset: dataOffset, alignment: alignment) }
        try checkOverlaps(tensors)
        return GGUFHeader(version: version, alignment: alignment, metadata: metadata, tensors: tensors,
                          dataOffset: dataOffset, fileSize: reader.bytes.count)
    }

    // MARK: - Preamble

    private func checkMagic() throws(GGUFError) {
        let bytes = reader.bytes
        let head = Array(bytes.prefix(4))
        guard !head.isEmpty, head.elementsEqual(Self.magic.prefix(head.count)) else {
            throw .notGGUF(source: source, detected: FileSniffer.detect(bytes).rawValue)
        }
        guard head.count == 4 else {
            throw .truncated(source: source, section: "the magic", offset: 0, needed: 4, available: head.count)
        }
    }

    private func checkVersion(_ version: UInt32) throws(GGUFError) -> UInt32 {
        switch version {
        case 2, 3:
            return version
        case 0:
            throw .unsupportedVersion(source: source, version: 0, reason: "version 0 does not exist; the file is corrupt")
        case 1:
            throw .unsupportedVersion(source: source, version: 1, reason: "GGUF v1 (before August 2023) stored counts and lengths "
                + "in 32 bits; ModelKit, like llama.cpp and gguf-py, reads versions 2 and 3; re-convert the model with a current llama.cpp or gguf-py")
        default:
            // A version whose low 16 bits are zero is a small version number stored big-endian (ggml's test).
            if version & 0xFFFF == 0 {
                throw .unsupportedVersion(source: source, version: version.byteSwapped, reason: "the file is big-endian; ModelKit "
                    + "reads little-endian GGUF only; convert it with gguf-py's gguf_convert_endian script")
            }
            throw .unsupportedVersion(source: source, version: version, reason: "this ModelKit reads versions 2 and 3; "
                + "a newer ModelKit may read it")
        }
    }

    // MARK: - Metadata values

    private mutating func readValue(_ type: GGUFValueType, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
        let offset = reader.offset
        let section = depth == 0 ? "metadata \(MessageText.quoted(key)) value" : "metadata \(MessageText.quoted(key)) array element"
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, section))
        case .int8: return .int8(Int8(bitPattern: try read(UInt8.self, section)))
        case .uint16: return .uint16(try read(UInt16.self, section))
        case .int16: return .int16(try read(Int16.self, section))
        case .uint32: return .uint32(try read(UInt32.self, section))
        case .int32: return .int32(try read(Int32.self, section))
        case .uint64: return .uint64(try read(UInt64.self, section))
        case .int64: return .int64(try read(Int64.self, section))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, section)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, section)))
        case .bool:
            let byte = try read(UInt8.self, section)
            guard byte <= 1 else {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: offset, reason: "BOOL value \(byte) is neither 0 nor 1")
            }
            return .bool(byte == 1)
        case .string:
            guard let text = try readString(section) else {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: offset, reason: "a string value is not valid UTF-8")
            }
            return .string(text)
        case .array:
            guard depth < Self.maximumArrayDepth else {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: offset,
                                       reason: "arrays nest more than \(Self.maximumArrayDepth) levels deep; refused as corrupt or hostile")
            }
            let rawElementType = try read(UInt32.self, "metadata \(MessageText.quoted(key)) array element type")
            guard let elementType = GGUFValueType(rawValue: rawElementType) else {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: offset,
                                       reason: "unknown array element type \(rawElementType); GGUF defines types 0 to 12")
            }
            let countOffset = reader.offset
            let rawCount = try read(UInt64.self, "metadata \(MessageText.quoted(key)) array count")
            let elementCount = try count(rawCount, minimumSize: elementType.minimumSize, "metadata \(MessageText.quoted(key)) array count", at: countOffset)
            guard elementCount <= Self.maximumArrayCount else {
                throw .invalidMetadata(source: source, key: "\(MessageText.quoted(key))", offset: countOffset,
                                       reason: "an array of \(elementCount) elements is more than ModelKit reads (\(Self.maximumArrayCount))")
            }
            if let size = elementType.fixedSize, elementType != .bool {
                return .array(elementType, try readFixedArray(elementType, count: elementCount, size: size, key: key))
            }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(capacity(elementCount, minimumSize: elementType.minimumSize))
            for _ in 0..<elementCount { elements.append(try readValue(elementType, key: key, depth: depth + 1)) }
            return .array(elementType, elements)
        }
    }

    /// Reads `count` numbers of a fixed-size type in one bounds check (tokenizer score and type arrays are long).
    private mutating func readFixedArray(_ type: GGUFValueType, count: Int, size: Int, key: String) throws(GGUFError) -> [GGUFValue] {
        let bytes = try readBytes(count * size, "metadata \(MessageText.quoted(key)) array elements")
        func load<T: FixedWidthInteger>(_ index: Int, _: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: index * size, as: T.self))
        }
        return (0..<count).map { index -> GGUFValue in
            switch type {
            case .uint8: .uint8(bytes[index])
            case .int8: .int8(Int8(bitPattern: bytes[index]))
            case .uint16: .uint16(load(index, UInt16.self))
            case .int16: .int16(load(index, Int16.self))
            case .uint32: .uint32(load(index, UInt32.self))
            case .int32: .int32(load(index, Int32.self))
            case .uint64: .uint64(load(index, UInt64.self))
            case .int64: .int64(load(index, Int64.self))
            case .float32: .float32(Float(bitPattern: load(index, UInt32.self)))
            case .float64: .float64(Double(bitPattern: load(index, UInt64.self)))
            case .bool, .string, .array: .bool(false)  // never reached: the caller passes fixed-size numeric types only
            }
        }
    }

    private func alignment(of metadata: [GGUFMetadataEntry], index: [String: Int]) throws(GGUFError) -> Int {
        guard let position = index["general.alignment"] else { return Self.defaultAlignment }
        let value = metadata[position].value
        guard case .uint32(let alignment) = value, alignment != 0, alignment & (alignment - 1) == 0 else {
            throw .invalidAlignment(source: source, value: "\(value.summary()) (\(value.type))")
        }
        return Int(alignment)
    }

    // MARK: - Tensor infos

    private mutating func readTensorInfo(index: Int) throws(GGUFError) -> GGUFTensorInfo {
        let start = reader.offset
        guard let name = try readString("tensor info \(index) name") else {
            throw .invalidTensorInfo(source: source, tensor: "#\(index)", index: index, reason: "the name is not valid UTF-8")
        }
        func invalid(_ reason: String) -> GGUFError { .invalidTensorInfo(source: source, tensor: name, index: index, reason: reason) }
        guard !name.isEmpty else { throw invalid("the name is empty (at offset \(start))") }
        let rank = try read(UInt32.self, "tensor \(MessageText.quoted(name)) dimension count")
        guard rank <= Self.maximumDimensions else {
            throw invalid("has \(rank) dimensions; GGUF (ggml) allows at most \(Self.maximumDimensions)")
        }
        var dimensions: [Int] = []
        var elementCount = 1
        for axis in 0..<Int(rank) {
            let raw = try read(UInt64.self, "tensor \(MessageText.quoted(name)) dimension \(axis)")
            guard let dimension = Int(exactly: raw) else { throw invalid("dimension \(axis) is \(raw), more than any tensor can have") }
            dimensions.append(dimension)
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("dimensions start \(dimensions) (fastest first): the element count overflows 64 bits") }
            elementCount = product
        }
        let type = GGUFTensorType(rawValue: try read(UInt32.self, "tensor \(MessageText.quoted(name)) type"))
        let rawOffset = try read(UInt64.self, "tensor \(MessageText.quoted(name)) offset")
        guard let offset = Int(exactly: rawOffset) else { throw invalid("offset \(rawOffset) is beyond any file") }
        var byteCount: Int?
        if let block = type.blockLayout {
            let rowLength = dimensions.first ?? 1
            guard rowLength % block.elements == 0 else {
                throw invalid("type \(type.name) stores blocks of \(block.elements) elements, but a row (the first dimension) has \(rowLength)")
            }
            let (bytes, overflow) = (elementCount / block.elements).multipliedReportingOverflow(by: block.bytes)
            guard !overflow else { throw invalid("\(elementCount) elements of \(type.name) need more bytes than fit in 64 bits") }
            byteCount = bytes
        }
        return GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset, fileOffset: 0,
                              elementCount: elementCount, byteCount: byteCount)
    }

    /// Checks that `info`'s bytes are aligned and inside the file, and sets its file offset.
    private func place(_ info: inout GGUFTensorInfo, dataOffset: Int, alignment: Int) throws(GGUFError) {
        let fileSize = reader.bytes.count
        func invalid(_ reason: String) -> GGUFError { .invalidDataLayout(source: source, tensor: info.name, reason: reason) }
        guard info.offset % alignment == 0 else {
            throw invalid("offset \(info.offset) is not a multiple of the alignment \(alignment); the tensor info is corrupt")
        }
        let (start, overflow) = dataOffset.addingReportingOverflow(info.offset)
        guard !overflow, start <= fileSize else {
            throw invalid("offset \(info.offset) lies past the end of the data section (\(max(0, fileSize - dataOffset)) bytes "
                          + "from file offset \(dataOffset)); the offset is corrupt")
        }
        info.fileOffset = start
        guard let byteCount = info.byteCount else { return }
        guard byteCount <= fileSize - start else {
            throw .truncated(source: source, section: "tensor \(MessageText.quoted(info.name)) data (\(info.type.name) \(info.shape))",
                             offset: start, needed: byteCount, available: fileSize - start)
        }
    }

    /// Refuses tensors whose byte ranges overlap (a file that does so is corrupt or crafted).
    private func checkOverlaps(_ tensors: [GGUFTensorInfo]) throws(GGUFError) {
        let ranges = tensors.compactMap { info -> (name: String, start: Int, end: Int)? in
            guard let count = info.byteCount, count > 0 else { return nil }
            return (info.name, info.offset, info.offset + count)  // both proved to lie inside the file
        }.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where previous.end > next.start {
            throw .invalidDataLayout(source: source, tensor: next.name, reason: "its bytes [\(next.start), \(next.end)) of the "
                + "data section overlap those of tensor \(MessageText.quoted(previous.name)) [\(previous.start), \(previous.end))")
        }
    }

    // MARK: - Primitive reads

    /// `offset` rounded up to a multiple of `alignment` (a power of two), and whether that overflowed.
    static func aligned(_ offset: Int, to alignment: Int) -> (Int, Bool) {
        let remainder = offset % alignment
        return remainder == 0 ? (offset, false) : offset.addingReportingOverflow(alignment - remainder)
    }

    private mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ section: @autoclosure () -> String) throws(GGUFError) -> T {
        do { return try reader.read(type) } catch { throw wrap(error, section()) }
    }

    private mutating func readBytes(_ count: Int, _ section: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        do { return try reader.readBytes(count) } catch { throw wrap(error, section()) }
    }

    /// Reads a `u64`-length string; `nil` when its bytes are not UTF-8 (the caller names the place in its error).
    private mutating func readString(_ section: @autoclosure () -> String) throws(GGUFError) -> String? {
        let lengthOffset = reader.offset
        let rawLength = try read(UInt64.self, section() + " length")
        let length = try count(rawLength, minimumSize: 1, section() + " length", at: lengthOffset)
        return String(validating: try readBytes(length, section()), as: UTF8.self)
    }

    /// `value` as an `Int`, when the whole file could hold that many items of at least `minimumSize` bytes; a larger
    /// count is implausible (corrupt or hostile). A count the file could hold but the bytes left cannot is a
    /// truncated file: the reads that follow fail at the exact place the bytes end, which is the better message.
    private func count(_ value: UInt64, minimumSize: Int, _ field: @autoclosure () -> String, at offset: Int) throws(GGUFError) -> Int {
        if value <= UInt64(reader.bytes.count / minimumSize) { return Int(value) }
        throw .implausibleCount(source: source, field: field(), offset: offset, value: value, limit: reader.remaining / minimumSize)
    }

    /// How many items to reserve room for: never more than the bytes left can hold, nor than 65,536 (past that the
    /// array grows as items are actually read, so a lying count cannot make a large reservation).
    private func capacity(_ count: Int, minimumSize: Int) -> Int { min(count, reader.remaining / minimumSize, 1 << 16) }

    private func wrap(_ error: ByteReaderError, _ section: String) -> GGUFError {
        switch error {
        case .truncated(let offset, let needed, let available):
            .truncated(source: source, section: section, offset: offset, needed: needed, available: available)
        case .implausibleLength(let offset, let value, let limit):
            .implausibleCount(source: source, field: section, offset: offset, value: UInt64(value) ?? .max, limit: limit)
        }
    }
}
