import ModelKitCore

/// Float32 matrix products on the engine's BLAS and threads, for code beyond the layer-by-layer forward pass
/// (training, benchmarks).
///
/// ```swift
/// // C[2×2] = A[2×3] · B[3×2]
/// try MatrixProduct.multiply(a, b, into: &c, rows: 2, inner: 3, columns: 2)
/// ```
public enum MatrixProduct {
    /// Computes `C = A · B` (or `A · Bᵀ` when `transposeB`), all row-major float32: `A` is `rows × inner`, `B` is
    /// `inner × columns` (`columns × inner` when transposed), `C` is `rows × columns`.
    ///
    /// - Throws: ``EngineError/valueCount(count:batchSize:features:)`` or
    ///   ``EngineError/outputBufferTooSmall(count:required:batchSize:features:)`` when a buffer's size does not
    ///   match, ``EngineError/tooLarge(layer:dimension:)`` beyond 32-bit sizes.
    public static func multiply(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                                into c: UnsafeMutableBufferPointer<Float>, rows: Int, inner: Int, columns: Int,
                                transposeB: Bool = false, threads: Int? = nil) throws(EngineError) {
        for (name, value) in [("rows", rows), ("inner", inner), ("columns", columns)] {
            guard value >= 0 else { throw .invalidOption(name: name, value: value, reason: "a dimension cannot be negative") }
            guard value <= Int(Int32.max) else { throw .tooLarge(layer: "matrix product", dimension: value) }
        }
        let (aCount, aOverflow) = rows.multipliedReportingOverflow(by: inner)
        guard !aOverflow, a.count == aCount else { throw .valueCount(count: a.count, batchSize: rows, features: inner) }
        let (bCount, bOverflow) = inner.multipliedReportingOverflow(by: columns)
        guard !bOverflow, b.count == bCount else { throw .valueCount(count: b.count, batchSize: inner, features: columns) }
        let (cCount, cOverflow) = rows.multipliedReportingOverflow(by: columns)
        guard !cOverflow, c.count >= cCount else {
            throw .outputBufferTooSmall(count: c.count, required: cCount, batchSize: rows, features: columns)
        }
        guard cCount > 0, let aBase = a.baseAddress ?? (inner == 0 ? UnsafePointer(c.baseAddress) : nil),
              let bBase = b.baseAddress ?? (inner == 0 ? UnsafePointer(c.baseAddress) : nil),
              let cBase = c.baseAddress else { return }
        let library = BLASLibrary.shared
        var packed: UnsafeMutablePointer<Float>?
        let layout: WeightLayout = transposeB ? .outIn : .inOut
        if library.sgemm == nil {
            let buffer = allocateFloats(PortableGEMM.packedCount(inputs: inner, outputs: columns))
            PortableGEMM.pack(bBase, layout: layout, inputs: inner, outputs: columns, into: buffer)
            packed = buffer
        }
        defer { packed?.deallocate() }
        let weights = DenseWeights(inputs: inner, outputs: columns, layout: layout, values: bBase, bias: nil,
                                   packed: packed.map { UnsafePointer($0) }, panels: nil, swappedCopy: nil)
        let pool = WorkerPool.shared
        let threadCount = min(threads ?? pool.width, pool.width)
        let split = WorkSplit.make(rows: rows, columns: columns, depth: inner, threads: threadCount,
                                   alignment: packed != nil ? PortableGEMM.panelWidth : WorkSplit.blasColumnAlignment)
        let job = ProductJob(split: split, rows: rows, weights: weights, a: aBase, c: cBase, blas: BLASFunctions(sgemm: library.sgemm, sgemv: library.sgemv))
        pool.run(job, taskCount: split.taskCount, threads: threadCount)
    }

    private final class ProductJob: ParallelJob, @unchecked Sendable {
        let split: WorkSplit
        let rows: Int
        let weights: DenseWeights
        let a: UnsafePointer<Float>
        let c: UnsafeMutablePointer<Float>
        let blas: BLASFunctions

        init(split: WorkSplit, rows: Int, weights: DenseWeights, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
             blas: BLASFunctions) {
            self.split = split
            self.rows = rows
            self.weights = weights
            self.a = a
            self.c = c
            self.blas = blas
        }

        func runTask(_ index: Int) {
            let start = index * split.blockSize
            if split.byRows {
                let range = min(rows, start)..<min(rows, start + split.blockSize)
                MatrixKernel.multiply(rows: range.count, columns: 0..<weights.outputs, a: a + range.lowerBound * weights.inputs,
                                      lda: weights.inputs, weights: weights, c: c + range.lowerBound * weights.outputs,
                                      ldc: weights.outputs, blas: blas)
            } else {
                let range = min(weights.outputs, start)..<min(weights.outputs, start + split.blockSize)
                MatrixKernel.multiply(rows: rows, columns: range, a: a, lda: weights.inputs, weights: weights, c: c,
                                      ldc: weights.outputs, blas: blas)
            }
        }
    }
}
