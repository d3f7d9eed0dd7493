#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ModelKitCore

/// The `shuffle-zlib` tensor encoding of format 1.1 (Specs/checkpoint.md section 1): byte-shuffled chunks, each a
/// zlib stream, compressed and decompressed in parallel.
public enum ShuffleZlibEncoding {
    public static let name = "shuffle-zlib"
    /// Raw bytes per chunk written (Z1).
    public static let chunkSize = 4 << 20

    /// A compressed tensor: the stored bytes and the chunk table.
    public struct Encoded: Sendable {
        public var bytes: [UInt8]
        public var chunks: [ChunkDescriptor]
    }

    /// Compresses `tensor`'s bytes chunk by chunk on all cores.
    public static func encode(_ tensor: Tensor, level: Zlib.Level) throws -> Encoded {
        let raw = UncheckedSendable(tensor.bytes)
        let stride = tensor.dtype.byteSize
        let perChunk = max(stride, chunkSize / stride * stride)
        let chunkCount = raw.value.isEmpty ? 0 : (raw.value.count + perChunk - 1) / perChunk
        let results = ConcurrentResults<Result<([UInt8], ChunkDescriptor), ZlibError>>(count: chunkCount)
        DispatchQueue.concurrentPerform(iterations: chunkCount) { index in
            let start = index * perChunk
            let piece = UnsafeRawBufferPointer(rebasing: raw.value[start..<min(raw.value.count, start + perChunk)])
            let shuffled = UnsafeMutableRawBufferPointer.allocate(byteCount: max(piece.count, 1), alignment: 64)
            defer { shuffled.deallocate() }
            let planes = UnsafeMutableRawBufferPointer(rebasing: shuffled[0..<piece.count])
            ByteShuffle.shuffle(piece, into: planes, stride: stride)
            results[index] = Result { () throws(ZlibError) in
                let compressed = try Zlib.compress(UnsafeRawBufferPointer(planes), level: level)
                return (compressed, ChunkDescriptor(length: compressed.count, rawLength: piece.count, crc32: CRC32.checksum(piece)))
            }
        }
        var encoded = Encoded(bytes: [], chunks: [])
        for result in results.values {
            guard let result else { continue }
            let (bytes, chunk) = try result.get()
            encoded.bytes += bytes
            encoded.chunks.append(chunk)
        }
        return encoded
    }

    /// Decodes a stored `shuffle-zlib` payload into new storage, verifying every chunk (Z1–Z4).
    static func decode(_ descriptor: TensorDescriptor, payload: UnsafeRawBufferPointer) throws(ModelFileError) -> Tensor {
        let name = descriptor.name
        guard let expected = descriptor.shape.byteCount(for: descriptor.dtype) else {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)) shape \(descriptor.shape) overflows (H4)")
        }
        let stride = descriptor.dtype.byteSize
        var rawTotal = 0, storedTotal = 0
        for (index, chunk) in descriptor.chunks.enumerated() {
            guard chunk.rawLength % stride == 0 else {
                throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)) chunk \(index): raw_length \(chunk.rawLength) is not a multiple of the element size \(stride) (Z1)")
            }
            let (raw, rawOverflow) = rawTotal.addingReportingOverflow(chunk.rawLength)
            let (stored, storedOverflow) = storedTotal.addingReportingOverflow(chunk.length)
            guard !rawOverflow, !storedOverflow else { throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)): chunk sizes overflow (B9)") }
            rawTotal = raw
            storedTotal = stored
        }
        guard rawTotal == expected else {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)): chunks decode to \(rawTotal) bytes, \(descriptor.dtype.rawValue) \(descriptor.shape) needs \(expected) (Z1)")
        }
        guard storedTotal == descriptor.length else {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)): chunks store \(storedTotal) bytes, the tensor's length is \(descriptor.length) (Z2)")
        }
        let (scaled, scaledOverflow) = descriptor.length.multipliedReportingOverflow(by: 1100)
        guard !scaledOverflow, expected <= scaled + (1 << 20) else {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)) claims \(expected) decoded bytes from \(descriptor.length) stored: more than deflate can produce (Z4)")
        }
        var startList: [Int] = []
        var rawStartList: [Int] = []
        var offset = 0
        var rawOffset = 0
        for chunk in descriptor.chunks {
            startList.append(offset)
            rawStartList.append(rawOffset)
            offset += chunk.length
            rawOffset += chunk.rawLength
        }
        let starts = startList, rawStarts = rawStartList
        let input = UncheckedSendable(payload)
        let failures = ConcurrentResults<ModelFileError>(count: descriptor.chunks.count)
        let storage = TensorStorage(count: expected) { outputBuffer in
            let output = UncheckedSendable(outputBuffer)
            let maxChunk = descriptor.chunks.map(\.rawLength).max() ?? 0
            DispatchQueue.concurrentPerform(iterations: descriptor.chunks.count) { index in
                let chunk = descriptor.chunks[index]
                let source = UnsafeRawBufferPointer(rebasing: input.value[starts[index]..<(starts[index] + chunk.length)])
                let planes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(maxChunk, 1), alignment: 64)
                defer { planes.deallocate() }
                let buffer = UnsafeMutableRawBufferPointer(rebasing: planes[0..<chunk.rawLength])
                let target = UnsafeMutableRawBufferPointer(rebasing: output.value[rawStarts[index]..<(rawStarts[index] + chunk.rawLength)])
                do {
                    try Zlib.decompress(source, into: buffer)
                } catch {
                    failures[index] = ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)) chunk \(index): \(error) (Z4)")
                    return
                }
                ByteShuffle.unshuffle(UnsafeRawBufferPointer(buffer), into: target, stride: stride)
                let crc = CRC32.checksum(UnsafeRawBufferPointer(target))
                if crc != chunk.crc32 {
                    failures[index] = ModelFileError(.checksumMismatch, "tensor \(MessageText.quoted(name)) chunk \(index) checksum mismatch after decompression (stored \(CRC32.hex(chunk.crc32)), computed \(CRC32.hex(crc))) (Z3)")
                }
            }
        }
        if let failure = failures.values.compactMap({ $0 }).first { throw failure }
        do {
            return try Tensor(dtype: descriptor.dtype, shape: descriptor.shape, storage: storage)
        } catch {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)): \(error)")
        }
    }
}

/// A pointer handed to parallel workers that touch disjoint parts of it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Slots that parallel workers fill by index; read after all workers are done.
final class ConcurrentResults<Value>: @unchecked Sendable {
    private var storage: [Value?]
    private let lock = Lock()

    init(count: Int) { storage = Array(repeating: nil, count: count) }

    subscript(index: Int) -> Value? {
        get { lock.withLock { storage[index] } }
        set { lock.withLock { storage[index] = newValue } }
    }

    var values: [Value?] { lock.withLock { storage } }
}

/// A minimal mutex (pthread), usable on every platform Swift runs on here.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
