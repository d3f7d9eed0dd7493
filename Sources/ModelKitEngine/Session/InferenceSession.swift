import ModelKitCore

/// Runs a model's forward pass: validated and prepared once, then called as often as needed, from any number of
/// tasks at once.
///
/// Inputs are `[batch, features]` row-major matrices; outputs are float32 `[batch, outputFeatures]`. Large batches
/// are run in chunks of ``InferenceOptions/maximumBatchSize`` rows. Buffers are kept between calls, so a
/// steady stream of predictions allocates nothing beyond the returned values (and nothing at all through
/// ``predict(input:batchSize:output:)``).
///
/// ```swift
/// let session = try InferenceSession(model: model)
/// let probabilities = try session.predict([[0.1, 0.2, /* … 400 values */]])
/// ```
public final class InferenceSession: Sendable {
    /// Features per input row.
    public let inputFeatures: Int
    /// Features per output row.
    public let outputFeatures: Int
    /// The options the session was made with.
    public let options: InferenceOptions
    /// Warnings from `Model.analyze()` (for example square weights whose layout shapes cannot confirm).
    public let warnings: [ValidationIssue]
    /// The kernel in use: BLAS, or the portable one (when asked for or when no BLAS library could be loaded).
    public let usesPortableKernel: Bool

    let prepared: PreparedModel
    private let workspaces: WorkspacePool
    private let threads: Int
    private let pool: WorkerPool

    /// The matrix library of this process: what was loaded, its CPU kernels and thread count.
    public static var blas: BLASInfo { BLASLibrary.shared.info }

    /// Validates `model` and prepares its weights (float16, bfloat16 and float64 are converted to float32 once;
    /// float32 weights are used in place).
    ///
    /// - Throws: ``EngineError/invalidModel(name:issues:)`` listing every error `model.analyze()` finds, or another
    ///   ``EngineError`` when the model or the options cannot be used.
    public init(model: Model, options: InferenceOptions = .init()) throws(EngineError) {
        guard options.maximumBatchSize >= 1 else {
            throw .invalidOption(name: "maximumBatchSize", value: options.maximumBatchSize, reason: "it must be at least 1")
        }
        if let threads = options.threads, threads < 1 {
            throw .invalidOption(name: "threads", value: threads, reason: "it must be at least 1")
        }
        let analysis = model.analyze()
        guard analysis.isValid else { throw .invalidModel(name: model.info.name, issues: analysis.errors) }
        guard let features = model.info.inputFeatures ?? Self.firstDenseInputs(of: model) else {
            throw .unknownInputFeatures(model: model.info.name)
        }
        guard features <= Int(Int32.max) else { throw .tooLarge(layer: "input", dimension: features) }
        let library = BLASLibrary.shared
        let portable = options.kernel == .portable || library.sgemm == nil
        let prepared = try PreparedModel(model: model, inputFeatures: features, usePortableKernel: portable)
        self.prepared = prepared
        self.inputFeatures = prepared.inputFeatures
        self.outputFeatures = prepared.outputFeatures
        self.options = options
        self.warnings = analysis.warnings
        self.usesPortableKernel = portable
        self.workspaces = WorkspacePool(model: prepared, blas: portable ? .none : BLASFunctions(sgemm: library.sgemm, sgemv: library.sgemv))
        self.pool = WorkerPool.shared
        self.threads = min(options.threads ?? pool.width, pool.width)
    }

    private static func firstDenseInputs(of model: Model) -> Int? {
        guard let layer = model.layers.first(where: { $0.kind == .dense }),
              let weight = model.parameter("weight", of: layer), weight.tensor.shape.rank == 2,
              let layout = weight.layout else { return nil }
        return layout.features(rows: weight.tensor.shape.dimensions[0], columns: weight.tensor.shape.dimensions[1]).input
    }

    /// Runs `batchSize` rows from `input` (`batchSize × inputFeatures` float32 values, row-major) and writes
    /// `batchSize × outputFeatures` values to the start of `output`. Allocates nothing in steady state.
    ///
    /// `input` and `output` must not overlap.
    ///
    /// - Throws: ``EngineError`` when the buffer sizes do not match the batch size.
    public func predict(input: UnsafeBufferPointer<Float>, batchSize: Int,
                        output: UnsafeMutableBufferPointer<Float>) throws(EngineError) {
        guard batchSize >= 0 else { throw .negativeBatchSize(batchSize) }
        let (inputCount, inputOverflow) = batchSize.multipliedReportingOverflow(by: inputFeatures)
        guard !inputOverflow, input.count == inputCount else {
            throw .valueCount(count: input.count, batchSize: batchSize, features: inputFeatures)
        }
        let (required, outputOverflow) = batchSize.multipliedReportingOverflow(by: outputFeatures)
        guard !outputOverflow, output.count >= required else {
            throw .outputBufferTooSmall(count: output.count, required: required, batchSize: batchSize, features: outputFeatures)
        }
        guard batchSize > 0, let inputBase = input.baseAddress, let outputBase = output.baseAddress else { return }
        run(batchSize: batchSize, source: .float32(inputBase), output: outputBase)
    }

    /// Where input rows come from: float32 memory used in place, or bytes converted chunk by chunk.
    enum InputSource {
        case float32(UnsafePointer<Float>)
        /// Raw little-endian values of a floating-point dtype (or float32 not aligned for direct use).
        case converting(UnsafeRawPointer, DType)
    }

    /// The forward pass over `batchSize ≥ 1` rows, in chunks of at most `maximumBatchSize`.
    func run(batchSize: Int, source: InputSource, output: UnsafeMutablePointer<Float>) {
        let chunkCapacity = min(batchSize, options.maximumBatchSize)
        let workspace = workspaces.take(rows: chunkCapacity)
        defer { workspaces.giveBack(workspace) }
        var start = 0
        while start < batchSize {
            let rows = min(chunkCapacity, batchSize - start)
            let input: UnsafePointer<Float>
            switch source {
            case .float32(let base):
                input = base + start * inputFeatures
            case .converting(let raw, let dtype):
                let buffer = workspace.inputBuffer()
                InputConversion.convert(raw, dtype: dtype, firstElement: start * inputFeatures,
                                        count: rows * inputFeatures, into: buffer)
                input = UnsafePointer(buffer)
            }
            workspace.forward(rows: rows, input: input, inputStride: inputFeatures,
                              output: output + start * outputFeatures, pool: pool, threads: threads)
            start += rows
        }
    }
}
