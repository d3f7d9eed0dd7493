import Foundation
import ModelKit

/// What every fuzz target needs: the fuzzer's bytes as reader input, and a check that results stay inside them.
public enum FuzzInput {
    /// A copy of the fuzzer's bytes in owned storage of exactly that size, so AddressSanitizer reports any read past
    /// its end (the readers normally see a memory-mapped file, where such a read would go unnoticed).
    public static func storage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> TensorStorage {
        TensorStorage(copying: bytes(data, size))
    }

    /// The fuzzer's bytes as a buffer (empty when libFuzzer passes no pointer).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
        guard let data, size > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: data, count: size)
    }

    /// The fuzzer's bytes decoded as UTF-8 text (invalid sequences repaired), for readers that take a `String`.
    public static func text(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String {
        String(decoding: bytes(data, size), as: UTF8.self)
    }

    /// Reads every byte of every tensor and converts it to float, so a view that lies outside its storage, or a
    /// conversion that trusts a size, crashes under AddressSanitizer instead of passing silently.
    public static func touch(_ tensors: [ModelTensor]) {
        for entry in tensors { touch(entry.tensor) }
    }

    /// ``touch(_:)-([ModelTensor])`` for one tensor.
    public static func touch(_ tensor: Tensor) {
        var sum: UInt8 = 0
        for byte in tensor.bytes { sum &+= byte }
        sink &+= Int(sum)
        if tensor.elementCount <= 1 << 20 { sink &+= tensor.floatValues().count }
    }

    /// Runs the model checks a reader's caller would (`inspect` does), and touches the weights.
    public static func touch(_ loaded: LoadedModel) {
        sink &+= loaded.model.analyze().issues.count
        touch(loaded.model.tensors)
    }

    /// Keeps the optimizer from discarding the reads above.
    nonisolated(unsafe) public static var sink = 0

    /// A fresh folder under the temporary directory, for readers that only take paths (one per process: the
    /// fuzzer runs inputs one at a time).
    public static let scratchFolder: String = {
        // In memory (/dev/shm) where there is one: a disk-backed /tmp makes the path-only readers several times slower.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        let folder = base + "modelkit-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }()

    /// Writes `bytes` to `name` inside ``scratchFolder`` and returns the path.
    public static func writeScratch(_ bytes: UnsafeBufferPointer<UInt8>, name: String) -> String {
        let path = scratchFolder + "/" + name
        // Plain POSIX calls: Foundation's createFile writes atomically (a temporary file and a rename), which costs
        // more than the read being fuzzed.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { return path }
        if let base = bytes.baseAddress { _ = write(descriptor, base, bytes.count) }
        close(descriptor)
        return path
    }
}
