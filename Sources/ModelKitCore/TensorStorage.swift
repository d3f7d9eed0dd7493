/// Immutable bytes that tensors view: owned memory, or a region of a memory-mapped file.
///
/// The bytes never change after creation, which is what makes sharing them across tasks safe. The region stays
/// valid until the last tensor viewing it is gone; then `release` (for example `munmap`) runs.
public final class TensorStorage: @unchecked Sendable {
    /// The bytes. Stable for the life of this object.
    public let bytes: UnsafeRawBufferPointer
    private let release: (@Sendable (UnsafeRawBufferPointer) -> Void)?

    /// Wraps memory owned elsewhere; `release` is called once when the storage is freed.
    public init(unsafeBytes bytes: UnsafeRawBufferPointer, release: (@Sendable (UnsafeRawBufferPointer) -> Void)?) {
        self.bytes = bytes
        self.release = release
    }

    /// Allocates `count` bytes aligned to 64, lets `initialize` fill them, then freezes them.
    public convenience init(count: Int, initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(count >= 0, "byte count must not be negative")
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        let used = UnsafeMutableRawBufferPointer(rebasing: memory[0..<count])
        do {
            try initialize(used)
        } catch {
            memory.deallocate()
            throw error
        }
        // The release closure frees through the pointer it is handed, so it captures nothing.
        self.init(unsafeBytes: UnsafeRawBufferPointer(used)) { bytes in
            if let base = bytes.baseAddress { UnsafeMutableRawPointer(mutating: base).deallocate() }
        }
    }

    /// Copies `bytes` into new owned storage.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(count: bytes.count) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    deinit { release?(bytes) }
}
