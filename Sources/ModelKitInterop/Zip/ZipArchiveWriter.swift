import Foundation
import ModelKitCore
import ZIPFoundation

/// Builds a zip archive in memory with ZIPFoundation, for writers of `.npz` (and other zip-based formats).
///
/// The archive is built in memory and the caller writes it with ``AtomicFileWriter``, so a failure never leaves a
/// half-written file. Timestamps are fixed (2020-01-01) so that the same members always give the same bytes.
enum ZipArchiveWriter {
    /// One member: `prefix` bytes followed by the bytes of `body`, without concatenating them first.
    struct Member {
        let name: String
        let prefix: [UInt8]
        let body: Tensor
    }

    /// A fixed modification time, so archives are reproducible.
    static let timestamp = Date(timeIntervalSince1970: 1_577_836_800)

    /// The complete archive.
    ///
    /// - Throws: ZIPFoundation's errors (they are not expected for an in-memory archive).
    static func archive(members: [Member], compressed: Bool) throws -> Data {
        let archive = try Archive(data: Data(), accessMode: .create)
        for member in members {
            let body = member.body.bytes
            let prefixCount = member.prefix.count
            let total = prefixCount + body.count
            try archive.addEntry(with: member.name, type: .file, uncompressedSize: Int64(total),
                                 modificationDate: timestamp, permissions: 0o644,
                                 compressionMethod: compressed ? .deflate : .none) { position, size in
                // ZIPFoundation asks for consecutive chunks; serve them from the prefix, then the tensor's bytes.
                let start = Int(position)
                let end = min(start + size, total)
                var chunk = Data(capacity: max(end - start, 0))
                if start < prefixCount {
                    chunk.append(contentsOf: member.prefix[start..<min(end, prefixCount)])
                }
                let bodyStart = max(start, prefixCount) - prefixCount
                let bodyEnd = end - prefixCount
                if bodyEnd > bodyStart {
                    chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: body[bodyStart..<bodyEnd]))
                }
                return chunk
            }
        }
        guard let data = archive.data else { throw CocoaError(.fileWriteUnknown) }
        return data
    }
}
