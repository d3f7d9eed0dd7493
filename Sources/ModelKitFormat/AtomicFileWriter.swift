#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that it either appears complete under its final name or not at all.
///
/// The bytes go to a temporary file in the destination's directory, are flushed with `fsync`, renamed over the
/// destination, and the directory is synced. A failure or a kill at any point leaves the previous file intact.
///
/// ```swift
/// try AtomicFileWriter.write(to: "model.mkit") { sink in
///     try sink.write(headerBytes)
///     try sink.write(payload)
/// }
/// ```
public enum AtomicFileWriter {
    /// A sequential writer handed to the closure of ``write(to:_:)``.
    public struct Sink: ~Copyable {
        fileprivate let descriptor: Int32
        fileprivate let path: String
        /// Bytes written so far.
        public private(set) var bytesWritten = 0

        /// Appends bytes, retrying short writes; throws on any error (a full disk included).
        public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(FileAccessError) {
            var done = 0
            while done < bytes.count {
                guard let base = bytes.baseAddress else { return }
                let result = Glibc.write(descriptor, base + done, bytes.count - done)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw FileAccessError(path: path, operation: "write", errno: errno)
                }
                done += result
            }
            bytesWritten += done
        }

        /// Appends bytes from an array.
        public mutating func write(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { raw in try write(raw) }
        }

        /// Appends `count` zero bytes.
        public mutating func writeZeros(_ count: Int) throws {
            guard count > 0 else { return }
            try write([UInt8](repeating: 0, count: count))
        }
    }

    /// Writes the file at `path` atomically with the bytes `body` produces.
    ///
    /// - Throws: ``FileAccessError`` on any I/O error, or whatever `body` throws; the destination is then untouched.
    public static func write(to path: String, _ body: (inout Sink) throws -> Void) throws {
        let directory = parentDirectory(of: path)
        let temporary = directory + "/." + baseName(of: path) + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileAccessError(path: path, operation: "create a temporary file", errno: errno) }
        var sink = Sink(descriptor: descriptor, path: path)
        do {
            try body(&sink)
            guard fsync(descriptor) == 0 else { throw FileAccessError(path: path, operation: "fsync", errno: errno) }
            guard close(descriptor) == 0 else {
                unlink(temporary)
                throw FileAccessError(path: path, operation: "close", errno: errno)
            }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw FileAccessError(path: path, operation: "rename into place", errno: code)
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { sink in try sink.write(bytes) }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
