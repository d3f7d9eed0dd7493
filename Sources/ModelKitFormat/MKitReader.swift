import ModelKitCore

/// Reads the binary `.mkit` form (Specs/format.md sections 1–3), checking every rule before trusting a number.
public enum MKitReader {
    /// The largest header accepted (B4).
    public static let maximumHeaderLength = 64 << 20
    static let preambleLength = 32
    static let alignment = 64

    /// Reads the file at `path`, memory-mapped: tensors view the mapping without copying.
    public static func read(path: String, checksums: ChecksumPolicy = .enforce) throws(ModelFileError) -> LoadedModel {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw ModelFileError(.io, error.reason, path: path) }
        do { return try read(storage: storage, checksums: checksums) } catch { throw error.at(path) }
    }

    /// Reads a whole file's bytes held in `storage`.
    public static func read(storage: TensorStorage, checksums: ChecksumPolicy = .enforce) throws(ModelFileError) -> LoadedModel {
        let bytes = storage.bytes
        var reader = ByteReader(bytes)
        try checkMagic(bytes)
        let fixed: (major: UInt16, minor: UInt16, flags: UInt32, headerLength: UInt64, headerCRC: UInt32)
        do {
            try reader.skip(8)
            fixed = (try reader.read(UInt16.self), try reader.read(UInt16.self), try reader.read(UInt32.self),
                     try reader.read(UInt64.self), try reader.read(UInt32.self))
            _ = try reader.read(UInt32.self)
        } catch {
            throw ModelFileError(.truncated, "truncated in the \(preambleLength)-byte preamble (file has \(bytes.count) bytes)")
        }
        try checkVersion(major: Int(fixed.major), minor: Int(fixed.minor))
        guard fixed.flags == 0 else {
            throw ModelFileError(.unsupported, "unknown flags 0x\(String(fixed.flags, radix: 16)) in a \(fixed.major).\(fixed.minor) file (B3)")
        }
        guard fixed.headerLength <= UInt64(maximumHeaderLength) else {
            throw ModelFileError(.corrupt, "header length \(fixed.headerLength) exceeds the \(maximumHeaderLength)-byte limit (B4)")
        }
        let headerLength = Int(fixed.headerLength)
        guard headerLength <= reader.remaining else {
            throw ModelFileError(.truncated, "truncated: the header needs \(headerLength) bytes at offset \(preambleLength), the file has \(reader.remaining) after the preamble (B4)")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[preambleLength..<(preambleLength + headerLength)])
        var headerStatus = ChecksumStatus.notChecked
        if checksums != .skip {
            let crc = CRC32.checksum(headerBytes, continuing: CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[8..<24])))
            headerStatus = crc == fixed.headerCRC ? .ok : .mismatch
            if headerStatus == .mismatch {
                throw ModelFileError(.checksumMismatch, "header checksum mismatch (stored \(CRC32.hex(fixed.headerCRC)), computed \(CRC32.hex(crc))): the header is damaged (B5)")
            }
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes.assumingMemoryBound(to: UInt8.self))
        } catch {
            throw ModelFileError(.corrupt, "header is not valid JSON: \(error)")
        }
        let header = try HeaderCodec.decode(json, form: .binary).header
        let dataStart = align(preambleLength + headerLength)
        try checkLayout(of: header, headerEnd: preambleLength + headerLength, dataStart: dataStart, in: bytes)
        return try assemble(header, storage: storage, dataStart: dataStart, headerStatus: headerStatus,
                            version: "\(fixed.major).\(fixed.minor)", checksums: checksums)
    }

    static func align(_ offset: Int) -> Int { (offset + alignment - 1) / alignment * alignment }

    static func checkMagic(_ bytes: UnsafeRawBufferPointer) throws(ModelFileError) {
        let magic = FileSniffer.mkitMagic
        if bytes.count >= magic.count, bytes.prefix(magic.count).elementsEqual(magic) { return }
        if bytes.count < magic.count, !bytes.isEmpty, magic.starts(with: bytes) {
            throw ModelFileError(.truncated, "truncated: only \(bytes.count) bytes, inside the magic number")
        }
        switch FileSniffer.detect(bytes) {
        case .mkitTextModeDamaged:
            throw ModelFileError(.corrupt, "the magic bytes were altered by a text-mode transfer (line endings or the high bit changed); transfer the file in binary mode (B1)")
        case let other:
            throw ModelFileError(.notThisFormat, "not a ModelKit binary file: it looks like \(other.rawValue) (B1)")
        }
    }

    static func checkVersion(major: Int, minor: Int) throws(ModelFileError) {
        let current = FormatVersion.current
        guard major != 0 else { throw ModelFileError(.corrupt, "format major version 0 is invalid (B2)") }
        guard major <= current.major else {
            throw ModelFileError(.unsupported, "format version \(major).\(minor) is newer than this reader's \(current); upgrade modelkit to read it (B2)")
        }
    }

    /// B6–B9: padding, exact file length, tensor offsets aligned, inside the data, not overlapping, gaps zero.
    static func checkLayout(of header: ModelHeader, headerEnd: Int, dataStart: Int, in bytes: UnsafeRawBufferPointer) throws(ModelFileError) {
        let (fileEnd, overflow) = dataStart.addingReportingOverflow(header.dataSize)
        guard !overflow else { throw ModelFileError(.corrupt, "data_size \(header.dataSize) overflows (B9)") }
        if fileEnd > bytes.count {
            throw ModelFileError(.truncated, "truncated: the header promises \(fileEnd) bytes, the file has \(bytes.count) (\(fileEnd - bytes.count) missing) (B7)")
        }
        if fileEnd < bytes.count {
            throw ModelFileError(.corrupt, "\(bytes.count - fileEnd) unexpected bytes after the data section (B7)")
        }
        if !isZero(bytes, from: headerEnd, to: dataStart) {
            throw ModelFileError(.corrupt, "non-zero bytes between the header and the data section (B6)")
        }
        var ranges: [(start: Int, end: Int, name: String)] = []
        for tensor in header.tensors {
            guard tensor.offset % alignment == 0 else {
                throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(tensor.name)) offset \(tensor.offset) is not a multiple of \(alignment) (B8)")
            }
            let (end, endOverflow) = tensor.offset.addingReportingOverflow(tensor.length)
            guard !endOverflow, end <= header.dataSize else {
                throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(tensor.name)) bytes \(tensor.offset)..<\(tensor.offset &+ tensor.length) lie outside the \(header.dataSize)-byte data section (B8)")
            }
            ranges.append((tensor.offset, end, tensor.name))
        }
        ranges.sort { $0.start < $1.start }
        var previousEnd = 0
        var previousName = ""
        for range in ranges {
            if range.start < previousEnd {
                throw ModelFileError(.corrupt, "tensors \(MessageText.quoted(previousName)) and \(MessageText.quoted(range.name)) overlap in the data section (B8)")
            }
            if !isZero(bytes, from: dataStart + previousEnd, to: dataStart + range.start) {
                throw ModelFileError(.corrupt, "non-zero bytes in the padding before tensor \(MessageText.quoted(range.name)) (B8)")
            }
            previousEnd = max(previousEnd, range.end)
            previousName = range.name
        }
        if !isZero(bytes, from: dataStart + previousEnd, to: fileEnd) {
            throw ModelFileError(.corrupt, "non-zero bytes in the padding at the end of the data section (B8)")
        }
    }

    static func isZero(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Bool {
        guard start < end else { return true }
        return bytes[start..<end].allSatisfy { $0 == 0 }
    }

    static func assemble(_ header: ModelHeader, storage: TensorStorage, dataStart: Int, headerStatus: ChecksumStatus,
                         version: String, checksums: ChecksumPolicy) throws(ModelFileError) -> LoadedModel {
        var model = Model(info: header.info, layers: header.layers, extra: header.extra)
        var statuses: [String: ChecksumStatus] = [:]
        var encodings: [String: String] = [:]
        var stored: [String: Int] = [:]
        var notes: [String] = []
        for descriptor in header.tensors {
            guard model.tensor(named: descriptor.name) == nil else {
                throw ModelFileError(.corrupt, "invalid header: tensor name \(MessageText.quoted(descriptor.name)) is used twice (H2)")
            }
            let start = dataStart + descriptor.offset
            let payload = UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + descriptor.length)])
            var status = ChecksumStatus.notChecked
            if checksums != .skip {
                status = CRC32.checksum(payload) == descriptor.crc32 ? .ok : .mismatch
                if status == .mismatch && checksums == .enforce {
                    throw ModelFileError(.checksumMismatch, "tensor \(MessageText.quoted(descriptor.name)) checksum mismatch (stored \(CRC32.hex(descriptor.crc32)), computed \(CRC32.hex(CRC32.checksum(payload)))): its bytes are damaged (C2)")
                }
            }
            let tensor = try TensorEncoding.decode(descriptor, payload: payload, storage: storage, storageOffset: start)
            if tensor.hasNonFiniteValues { notes.append("tensor \(MessageText.quoted(descriptor.name)) contains NaN or infinite values") }
            statuses[descriptor.name] = status
            encodings[descriptor.name] = descriptor.encoding
            stored[descriptor.name] = descriptor.length
            model.addTensor(ModelTensor(name: descriptor.name, tensor: tensor, layout: descriptor.layout,
                                        layoutSource: descriptor.layoutSource, extra: descriptor.extra))
        }
        try checkReferences(model)
        return LoadedModel(model: model, formatName: "ModelKit binary", formatVersion: version, fileSize: storage.bytes.count,
                           headerChecksum: headerStatus, tensorChecksums: statuses, tensorEncodings: encodings,
                           storedBytes: stored, notes: notes)
    }

    /// H2: names unique, every parameter reference resolves.
    static func checkReferences(_ model: Model) throws(ModelFileError) {
        var names = Set<String>()
        for layer in model.layers {
            guard names.insert(layer.name).inserted else {
                throw ModelFileError(.corrupt, "invalid header: layer name \(MessageText.quoted(layer.name)) is used twice (H2)")
            }
            for (role, tensorName) in layer.parameters.sorted(by: { $0.key < $1.key }) where model.tensor(named: tensorName) == nil {
                throw ModelFileError(.corrupt, "invalid header: layer \(MessageText.quoted(layer.name)) \(role) names tensor \(MessageText.quoted(tensorName)), which is not in the file (H2)")
            }
        }
    }
}
