import CModelKitZlib

/// One-shot zlib (RFC 1950) compression and bounded decompression through the system libz.
public enum Zlib {
    /// Compression levels of ModelKit's writers.
    public enum Level: String, Sendable, CaseIterable {
        case fast, `default`, best
        /// zlib's numeric level.
        public var zlibLevel: Int32 {
            switch self {
            case .fast: 1
            case .default: 6
            case .best: 9
            }
        }

        /// zlib's strategy. `fast` codes bytes with Huffman codes alone (`Z_HUFFMAN_ONLY`): after the byte shuffle,
        /// float planes are either near-random (mantissas) or few-valued (exponents, signs), so string matching buys
        /// little and costs most of the time. Measured on trained-looking float32 (4 MiB chunks, one core): ratio
        /// 0.834 at ~200 MB/s, against 0.860 at 61 MB/s for level 1 with matching and 0.848 at 8 MB/s for level 9.
        /// The output is an ordinary zlib stream either way.
        public var zlibStrategy: Int32 {
            switch self {
            case .fast: Z_HUFFMAN_ONLY
            case .default, .best: Z_DEFAULT_STRATEGY
            }
        }
    }

    /// Compresses `source` into a new buffer.
    public static func compress(_ source: UnsafeRawBufferPointer, level: Level) throws(ZlibError) -> [UInt8] {
        guard source.count <= Int(UInt32.max / 2) else {
            throw ZlibError(status: Z_BUF_ERROR, operation: "compress (\(source.count) bytes in one call; ModelKit compresses 4 MiB chunks)")
        }
        var stream = z_stream()
        // deflateInit2 is a macro; this is what it expands to. Window 15 bits and memLevel 8 are zlib's defaults.
        var status = deflateInit2_(&stream, level.zlibLevel, Z_DEFLATED, 15, 8, level.zlibStrategy, ZLIB_VERSION,
                                   Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw ZlibError(status: status, operation: "deflateInit") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(source.count)))
        var output = [UInt8](repeating: 0, count: bound)
        var produced = 0
        status = output.withUnsafeMutableBytes { destination -> Int32 in
            guard let out = destination.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return Z_BUF_ERROR }
            stream.next_out = out
            stream.avail_out = uInt(bound)
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(source.count)
            // deflateBound guarantees room for the whole stream, so one Z_FINISH call completes it.
            let result = deflate(&stream, Z_FINISH)
            produced = bound - Int(stream.avail_out)
            return result
        }
        guard status == Z_STREAM_END else { throw ZlibError(status: status == Z_OK ? Z_BUF_ERROR : status, operation: "compress") }
        output.removeSubrange(produced...)
        return output
    }

    /// Inflates one complete zlib stream from `source` into `destination`, which must be filled exactly.
    ///
    /// - Throws: ``ZlibError`` if the stream is damaged, ends early, or holds more or fewer bytes than `destination`.
    public static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(ZlibError) {
        var stream = z_stream()
        var status = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw ZlibError(status: status, operation: "inflateInit") }
        defer { inflateEnd(&stream) }
        // zlib's counters are 32-bit; feed and drain in pieces so any size works.
        var consumed = 0
        var produced = 0
        let piece = 1 << 30
        repeat {
            if stream.avail_in == 0 && consumed < source.count, let base = source.baseAddress {
                let count = min(piece, source.count - consumed)
                stream.next_in = UnsafeMutablePointer(mutating: (base + consumed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(count)
                consumed += count
            }
            // One spare byte beyond the destination lets us notice a stream that is longer than promised.
            var spare: UInt8 = 0
            let room = destination.count - produced
            if room > 0, let base = destination.baseAddress {
                let count = min(piece, room)
                stream.next_out = (base + produced).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(count)
                status = inflate(&stream, Z_NO_FLUSH)
                produced += count - Int(stream.avail_out)
            } else {
                status = withUnsafeMutablePointer(to: &spare) { pointer -> Int32 in
                    stream.next_out = pointer
                    stream.avail_out = 1
                    return inflate(&stream, Z_NO_FLUSH)
                }
                if stream.avail_out == 0 { throw ZlibError(status: Z_DATA_ERROR, operation: "inflate", detail: "the stream holds more bytes than declared") }
            }
            if status == Z_BUF_ERROR && stream.avail_in == 0 && consumed >= source.count {
                throw ZlibError(status: status, operation: "inflate", detail: "the stream ends early (truncated)")
            }
        } while status == Z_OK || (status == Z_BUF_ERROR && stream.avail_in > 0)
        guard status == Z_STREAM_END else { throw ZlibError(status: status, operation: "inflate") }
        guard produced == destination.count else {
            throw ZlibError(status: Z_DATA_ERROR, operation: "inflate", detail: "inflated \(produced) bytes, \(destination.count) were declared")
        }
    }
}

/// A zlib failure, with zlib's reason.
public struct ZlibError: Error, Sendable, CustomStringConvertible {
    public var status: Int32
    public var operation: String
    public var detail: String?

    public init(status: Int32, operation: String, detail: String? = nil) {
        self.status = status
        self.operation = operation
        self.detail = detail
    }

    public var description: String {
        if let detail { return "\(operation): \(detail)" }
        let reason: String
        switch status {
        case Z_DATA_ERROR: reason = "damaged compressed data"
        case Z_MEM_ERROR: reason = "out of memory"
        case Z_BUF_ERROR: reason = "the stream ends early (truncated)"
        case Z_STREAM_ERROR: reason = "invalid stream state"
        default: reason = "zlib status \(status)"
        }
        return "\(operation): \(reason)"
    }
}
