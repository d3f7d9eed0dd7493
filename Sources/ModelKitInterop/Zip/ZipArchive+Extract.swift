import CModelKitZlib
import ModelKitCore
import ModelKitFormat

extension ZipArchive {
    /// The bytes of `member`, checked against its recorded size and CRC-32.
    ///
    /// Stored members are returned as a view of the mapped archive (no copy). Deflated members are inflated into one
    /// allocation of exactly the declared size; inflation stops with an error as soon as the data would run past it,
    /// or when the compressed data ends before the stream does. Nothing is written to disk.
    ///
    /// - Parameters:
    ///   - member: A member of this archive.
    ///   - verifyChecksum: Whether to compare the CRC-32 (default `true`; costs one pass over the bytes).
    /// - Throws: ``ZipArchiveError`` for a size or checksum mismatch or damaged compressed data.
    public func contents(of member: Member, verifyChecksum: Bool = true) throws(ZipArchiveError) -> ZipMemberContents {
        let contents: ZipMemberContents
        switch member.method {
        case .stored:
            // The parser proved that the data lies inside the file and that both sizes agree.
            contents = ZipMemberContents(storage: storage, range: member.dataOffset..<(member.dataOffset + member.compressedSize))
        case .deflated:
            contents = try inflate(member)
        }
        if verifyChecksum {
            let actual = contents.withUnsafeBytes { CRC32.checksum($0) }
            guard actual == member.crc32 else {
                throw .checksumMismatch(path: path, member: member.name, expected: member.crc32, actual: actual)
            }
        }
        return contents
    }

    /// The bytes of the member named `name`.
    ///
    /// - Throws: ``ZipArchiveError/memberNotFound(path:member:available:)`` when there is none, or any error of
    ///   ``contents(of:verifyChecksum:)``.
    public func contents(ofMemberNamed name: String) throws(ZipArchiveError) -> ZipMemberContents {
        guard let member = member(named: name) else {
            throw .memberNotFound(path: path, member: name, available: memberNames)
        }
        return try contents(of: member)
    }

    private func inflate(_ member: Member) throws(ZipArchiveError) -> ZipMemberContents {
        let input = UnsafeRawBufferPointer(rebasing: storage.bytes[member.dataOffset..<(member.dataOffset + member.compressedSize)])
        do {
            let output = try TensorStorage(count: member.uncompressedSize) { buffer in
                try RawInflater.inflate(input, into: buffer, path: path, member: member.name)
            }
            return ZipMemberContents(storage: output, range: 0..<member.uncompressedSize)
        } catch let error as ZipArchiveError {
            throw error
        } catch {
            throw .corruptMember(path: path, member: member.name, reason: "\(error)")
        }
    }
}

/// Raw deflate (zip method 8) through zlib, bounded on both sides: it reads only the member's compressed bytes and
/// writes only into the buffer sized from the declared length.
enum RawInflater {
    /// zlib takes 32-bit lengths; larger buffers are fed in pieces of this size.
    private static let piece = 1 << 30

    static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                        path: String, member: String) throws(ZipArchiveError) {
        var stream = z_stream()
        // Negative window bits: a raw deflate stream, without the zlib header zip members do not have.
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corruptMember(path: path, member: member, reason: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var inputUsed = 0
        var outputUsed = 0
        // One spare byte, offered once the declared size is filled, to learn whether the stream wants to write more.
        let probe = UnsafeMutablePointer<Bytef>.allocate(capacity: 1)
        defer { probe.deallocate() }
        var probing = false
        while true {
            if stream.avail_in == 0, inputUsed < input.count, let base = input.baseAddress {
                let count = min(input.count - inputUsed, piece)
                stream.next_in = UnsafeMutablePointer(mutating: (base + inputUsed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(count)
                inputUsed += count
            }
            let status: Int32
            if stream.avail_out == 0, outputUsed < output.count, let base = output.baseAddress {
                let count = min(output.count - outputUsed, piece)
                stream.next_out = (base + outputUsed).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(count)
                outputUsed += count
                status = zlibInflate(&stream)
            } else if stream.avail_out == 0 {
                probing = true
                stream.next_out = probe
                stream.avail_out = 1
                status = zlibInflate(&stream)
            } else {
                status = zlibInflate(&stream)
            }
            let produced = Int(stream.total_out)
            if probing && produced > output.count {
                throw .sizeMismatch(path: path, member: member, declared: output.count, actual: "more when inflated")
            }
            switch status {
            case Z_STREAM_END:
                guard produced == output.count else {
                    throw .sizeMismatch(path: path, member: member, declared: output.count, actual: "\(produced) when inflated")
                }
                return
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0 && inputUsed == input.count:
                // This is where ZIPFoundation 0.9.20 loops forever: the input is exhausted but the stream goes on.
                throw .corruptMember(path: path, member: member,
                                     reason: "the compressed data ends before the deflate stream does (truncated)")
            case Z_BUF_ERROR:
                // zlib made no progress although it had input and room: cannot happen with a sound zlib; never spin.
                throw .corruptMember(path: path, member: member, reason: "the inflater stopped making progress")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw .corruptMember(path: path, member: member, reason: message)
            }
        }
    }

    private static func zlibInflate(_ stream: inout z_stream) -> Int32 {
        CModelKitZlib.inflate(&stream, Z_NO_FLUSH)
    }
}
