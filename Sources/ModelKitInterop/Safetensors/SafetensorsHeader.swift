import ModelKitCore
import ModelKitFormat

/// One tensor of a checked safetensors header.
struct SafetensorsEntry {
    var name: String
    var dtype: DType
    var shape: Shape
    /// Offsets in the data section (after the header), `begin..<end`.
    var begin: Int
    var end: Int
}

/// A safetensors header read and checked with every rule of the reference reader (`safetensors/src/tensor.rs`,
/// `read_metadata` and `validate`), before any tensor is made. Specs/interop/safetensors.md lists the rules (S1–S9).
struct SafetensorsHeader {
    /// S2: the reference's `MAX_HEADER_SIZE` (100,000,000 bytes).
    static let maximumHeaderSize = 100_000_000

    /// Tensors in data order.
    var entries: [SafetensorsEntry]
    var metadata: [String: String]
    /// The file offset of the data section: 8 + the header size.
    var dataStart: Int

    /// Reads and checks the header of the file `bytes`; nothing is allocated from a size the file claims.
    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) -> SafetensorsHeader {
        try checkFormat(bytes, path: path)
        var reader = ByteReader(bytes)
        // S1: u64 little-endian header size. checkFormat made sure 8 bytes are there.
        guard let claimed = try? reader.read(UInt64.self) else {
            throw .truncated(path: path, what: "8-byte header size", needed: 8, available: bytes.count)
        }
        guard claimed <= UInt64(maximumHeaderSize) else {
            throw .headerTooLarge(path: path, size: claimed, limit: maximumHeaderSize)
        }
        let headerSize = Int(claimed)
        guard let headerBytes = try? reader.readBytes(headerSize) else {
            throw .truncated(path: path, what: "JSON header of \(headerSize) bytes", needed: headerSize, available: reader.remaining)
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes.assumingMemoryBound(to: UInt8.self), limits: .init(maximumDepth: 8))
        } catch {
            throw .invalidHeader(path: path, reason: "not valid JSON at header byte \(error.offset) (file offset \(8 + error.offset)): \(error.reason)")
        }
        guard case .object(let object) = json else {
            throw .invalidHeader(path: path, reason: "the header is a JSON \(json.typeName), not an object of tensors")
        }
        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        for (name, value) in object {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, path: path)
            } else {
                entries.append(try parseEntry(name, value, path: path))
            }
        }
        let dataStart = 8 + headerSize
        try checkOffsets(&entries, dataSize: bytes.count - dataStart, path: path)
        return SafetensorsHeader(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    /// Refuses files that are plainly something else, so that a zip or an HTML page is not reported as a
    /// safetensors file with an absurd header size.
    ///
    /// A header size below 4 GiB (its upper four bytes zero) is what every safetensors file has, and no other
    /// format we know starts that way, so such files go straight to the safetensors checks; the sniffer is asked
    /// only about the rest (it would take a header size of 640 for a pickle's `0x80 0x02`).
    private static func checkFormat(_ bytes: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) {
        if bytes.count >= 8, bytes[4..<8].allSatisfy({ $0 == 0 }) { return }
        if (1..<8).contains(bytes.count), bytes.dropFirst().allSatisfy({ $0 == 0 }) {
            // The start of a small header size, cut short.
            throw .truncated(path: path, what: "8-byte header size", needed: 8, available: bytes.count)
        }
        let detected = FileSniffer.detect(bytes)
        switch detected {
        case .safetensors, .unknown:
            guard bytes.count >= 8 else {
                throw .truncated(path: path, what: "8-byte header size", needed: 8, available: bytes.count)
            }
        default:
            throw .notSafetensors(path: path, detected: detected.rawValue)
        }
    }

    private static func parseMetadata(_ value: JSONValue, path: String) throws(SafetensorsError) -> [String: String] {
        if value.isNull { return [:] }
        guard case .object(let object) = value else {
            throw .invalidMetadata(path: path, reason: "it is a JSON \(value.typeName), not an object")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in object {
            guard let text = entry.stringValue else {
                throw .invalidMetadata(path: path, reason: "the value of \(MessageText.quoted(key)) is a \(entry.typeName), not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(_ name: String, _ value: JSONValue, path: String) throws(SafetensorsError) -> SafetensorsEntry {
        func fail(_ reason: String) -> SafetensorsError { .invalidEntry(path: path, tensor: name, reason: reason) }
        guard case .object(let object) = value else {
            throw fail("its entry is a JSON \(value.typeName), not an object with dtype, shape and data_offsets")
        }
        guard let dtypeName = object["dtype"]?.stringValue else { throw fail("missing \"dtype\" string") }
        guard let shapeValues = object["shape"]?.arrayValue else { throw fail("missing \"shape\" list") }
        guard let offsetValues = object["data_offsets"]?.arrayValue else { throw fail("missing \"data_offsets\" list") }
        guard let dtype = SafetensorsDType.dtype(named: dtypeName) else {
            throw .unsupportedDType(path: path, tensor: name, dtype: dtypeName,
                                    known: SafetensorsDType.knownUnsupported.contains(dtypeName))
        }
        var dimensions: [Int] = []
        for (axis, entry) in shapeValues.enumerated() {
            guard let dimension = nonNegativeInteger(entry) else {
                throw fail("shape[\(axis)] is \(text(of: entry)), not a non-negative whole number")
            }
            dimensions.append(dimension)
        }
        let shapeText = "[" + shapeValues.map(text(of:)).joined(separator: ", ") + "]"
        guard dimensions.count <= Shape.maximumRank else {
            throw fail("shape \(shapeText) has \(dimensions.count) dimensions; at most \(Shape.maximumRank) are supported")
        }
        guard offsetValues.count == 2, let begin = nonNegativeInteger(offsetValues[0]),
              let end = nonNegativeInteger(offsetValues[1]) else {
            throw fail("data_offsets must be [BEGIN, END] with non-negative whole numbers, not [\(offsetValues.map(text(of:)).joined(separator: ", "))]")
        }
        guard begin <= end else {
            throw .invalidOffsets(path: path, tensor: name, reason: "data_offsets [\(begin), \(end)] end before they begin")
        }
        let shape = Shape(dimensions)
        // S6: dtype × shape must equal end − begin, computed without overflow.
        guard let byteCount = shape.byteCount(for: dtype) else {
            throw .shapeOverflow(path: path, tensor: name, dtype: dtypeName, shape: shapeText)
        }
        guard byteCount == end - begin else {
            throw .sizeMismatch(path: path, tensor: name, dtype: dtypeName, shape: shapeText, expected: byteCount, actual: end - begin)
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// S7–S8: sorted by offsets, each tensor begins where the previous ended, the first at 0, and the last ends at
    /// the end of the file.
    private static func checkOffsets(_ entries: inout [SafetensorsEntry], dataSize: Int, path: String) throws(SafetensorsError) {
        entries.sort { ($0.begin, $0.end) != ($1.begin, $1.end) ? ($0.begin, $0.end) < ($1.begin, $1.end) : $0.name < $1.name }
        var position = 0
        var previous: String?
        for entry in entries {
            if entry.begin != position {
                let reason: String
                if let previous {
                    reason = entry.begin < position
                        ? "data_offsets [\(entry.begin), \(entry.end)] overlap tensor \(MessageText.quoted(previous)), which ends at \(position)"
                        : "data_offsets [\(entry.begin), \(entry.end)] leave a gap of \(entry.begin - position) bytes after tensor \(MessageText.quoted(previous)), which ends at \(position)"
                } else {
                    reason = "data_offsets [\(entry.begin), \(entry.end)]: the first tensor must begin at 0 (bytes 0..<\(entry.begin) belong to no tensor)"
                }
                throw .invalidOffsets(path: path, tensor: entry.name, reason: reason)
            }
            if entry.end > dataSize {
                throw .truncated(path: path, what: "tensor \(MessageText.quoted(entry.name)) (data bytes \(entry.begin)..<\(entry.end))",
                                 needed: entry.end - entry.begin, available: dataSize - entry.begin)
            }
            position = entry.end
            previous = entry.name
        }
        guard position == dataSize else { throw .trailingBytes(path: path, covered: position, available: dataSize) }
    }

    private static func nonNegativeInteger(_ value: JSONValue) -> Int? {
        guard let integer = value.intValue, integer >= 0 else { return nil }
        return integer
    }

    /// A JSON value as it appears in the header, for messages (numbers keep their text, so 2^70 shows as written).
    private static func text(of value: JSONValue) -> String {
        switch value {
        case .number(let text): text
        case .string(let text): "\"\(text)\""
        default: value.typeName
        }
    }
}
