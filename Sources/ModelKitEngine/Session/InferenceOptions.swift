/// Settings of an ``InferenceSession``.
///
/// ```swift
/// let session = try InferenceSession(model: model, options: InferenceOptions(maximumBatchSize: 256, threads: 1))
/// ```
public struct InferenceOptions: Sendable, Equatable {
    /// Which matrix-product kernel to use.
    public enum Kernel: String, Sendable, Equatable, CaseIterable {
        /// BLAS when a library could be loaded (see ``InferenceSession/blas``), else the portable kernel.
        case automatic
        /// Always ModelKit's portable Swift kernel (slower; for checking results against BLAS).
        case portable
    }

    /// Inputs with more rows are run in chunks of this many rows, so memory stays bounded (default 1024).
    public var maximumBatchSize: Int
    /// At most this many threads per prediction; `nil` uses ``BLASInfo/threads`` (the `OPENBLAS_NUM_THREADS`
    /// setting, else the processor count).
    public var threads: Int?
    /// The matrix-product kernel.
    public var kernel: Kernel

    /// Creates options; the defaults suit most uses.
    public init(maximumBatchSize: Int = 1024, threads: Int? = nil, kernel: Kernel = .automatic) {
        self.maximumBatchSize = maximumBatchSize
        self.threads = threads
        self.kernel = kernel
    }
}
