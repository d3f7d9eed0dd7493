#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelKitCore

/// Opens files read-only as memory-mapped ``TensorStorage`` so tensors can view them without copying.
public enum MappedFile {
    /// Maps the whole file at `path`. An empty file gives empty storage.
    ///
    /// - Throws: ``FileAccessError`` when the file cannot be opened, is a directory, or cannot be mapped.
    public static func open(_ path: String) throws(FileAccessError) -> TensorStorage {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileAccessError(path: path, operation: "open", errno: errno) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileAccessError(path: path, operation: "stat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw FileAccessError(path: path, operation: "open", reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else { return TensorStorage(count: 0) { _ in } }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw FileAccessError(path: path, operation: "mmap", errno: errno)
        }
        let bytes = UnsafeRawBufferPointer(start: address, count: size)
        return TensorStorage(unsafeBytes: bytes) { region in
            if let base = region.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), region.count) }
        }
    }

    /// The size of the file at `path` in bytes.
    public static func size(of path: String) throws(FileAccessError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileAccessError(path: path, operation: "stat", errno: errno) }
        return Int(info.st_size)
    }
}

/// A failed file-system operation, with the system's reason.
public struct FileAccessError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var reason: String

    public init(path: String, operation: String, reason: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public init(path: String, operation: String, errno code: Int32) {
        self.init(path: path, operation: operation, reason: String(cString: strerror(code)))
    }

    public var description: String { "\(path): cannot \(operation): \(reason)" }
}
