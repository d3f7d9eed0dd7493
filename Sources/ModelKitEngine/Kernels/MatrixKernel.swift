import ModelKitCore

/// A dense layer's weight, ready for the matrix product: float32, in its stored layout (zero copy when it can be),
/// plus the portable kernel's packed panels when that kernel is in use.
struct DenseWeights: @unchecked Sendable {
    let inputs: Int
    let outputs: Int
    let layout: WeightLayout
    /// `[in, out]` or `[out, in]` float32 values, as ``layout`` says.
    let values: UnsafePointer<Float>
    /// `[out]` float32 values, when the layer has a bias.
    let bias: UnsafePointer<Float>?
    /// The portable kernel's panels; `nil` when BLAS does the product.
    let packed: UnsafePointer<Float>?
    /// ``PackedKernel``'s 16-column panels, made at prepare time when that kernel is available (AVX2 or better);
    /// used from ``PackedKernel/minimumRows`` rows up, BLAS below.
    let panels: UnsafePointer<Float>?
    /// For small weights under BLAS: the same values in the other layout (``layout``'s `swapped`), packed once at
    /// prepare time, because OpenBLAS is up to 1.4× faster with `[out, in]` for a few rows and with `[in, out]`
    /// for tens to hundreds of rows (see ``MatrixKernel/preferredLayout(rows:)``).
    let swappedCopy: UnsafePointer<Float>?

    /// Weights at most this many values get a ``swappedCopy`` (1 MiB of float32, a core's L2 cache): beyond
    /// that the product is bound by memory and the stored layout is as fast (or faster: measured 0.82–0.98×).
    static let swappedCopyLimit = 262_144
}

/// The BLAS entry points a product may use (`nil` members: the portable kernel, or no `sgemv`).
struct BLASFunctions: @unchecked Sendable {
    let sgemm: SGEMMFunction?
    let sgemv: SGEMVFunction?

    static let none = BLASFunctions(sgemm: nil, sgemv: nil)
}

/// `C = A · op(W)` on a block of rows and columns: through BLAS, or the portable kernel.
enum MatrixKernel {
    /// From this many weight values up, a single row goes through `sgemv`: `sgemm` copies the whole weight block
    /// into its packed form first, which for one row costs more than the product (6× on a 4096 × 4096 weight),
    /// while for small, cache-resident weights `sgemm` is slightly faster.
    static let matrixVectorThreshold = 131_072

    /// The layout OpenBLAS (0.3.21, SkylakeX kernels) multiplies fastest for `rows` rows and a cache-resident weight.
    /// Measured single-threaded time ratios `[out, in]` / `[in, out]`: 400×200 weight 0.80 at 1 row, 0.88 at 2,
    /// 1.09 at 50, 1.04 at 128, 1.01 at 512; 200×50 weight 0.68 at 1 row, 1.37 at 50.
    @inline(__always)
    static func preferredLayout(rows: Int) -> WeightLayout { rows <= 8 ? .outIn : .inOut }

    private static let rowMajor: Int32 = 101, noTranspose: Int32 = 111, transpose: Int32 = 112

    /// Computes `C[rows, columns] = act(A[rows, :] · W[:, columns] + bias[columns])`: the product, then the bias
    /// and `activations` on the block while it is in cache (the packed kernel adds the bias and a leading ReLU or
    /// LeakyReLU in registers).
    @inline(__always)
    static func multiplyWithEpilogue(rows: Int, columns: Range<Int>, a: UnsafePointer<Float>, lda: Int,
                                     weights: DenseWeights, c: UnsafeMutablePointer<Float>, ldc: Int, blas: BLASFunctions,
                                     activations: [ElementwiseActivation]) {
        guard rows > 0, !columns.isEmpty else { return }
        if let panels = weights.panels, rows >= PackedKernel.minimumRows {
            let (fused, rest) = PackedKernel.FusedActivation.split(activations)
            PackedKernel.multiply(rows: rows, depth: weights.inputs, a: a, lda: lda, packed: panels, outputs: weights.outputs,
                                  columns: columns, bias: weights.bias, activation: fused, c: c, ldc: ldc)
            if !rest.isEmpty {
                Epilogue.apply(rows: rows, columns: columns, base: c, stride: ldc, bias: nil, activations: Array(rest))
            }
            return
        }
        multiply(rows: rows, columns: columns, a: a, lda: lda, weights: weights, c: c, ldc: ldc, blas: blas)
        Epilogue.apply(rows: rows, columns: columns, base: c, stride: ldc, bias: weights.bias, activations: activations)
    }

    /// Computes `C[rows, columns] = A[rows, :] · W[:, columns]` where `a` points at the first of `rows` input rows
    /// and `c` at the first output row (column 0).
    @inline(__always)
    static func multiply(rows: Int, columns: Range<Int>, a: UnsafePointer<Float>, lda: Int, weights: DenseWeights,
                         c: UnsafeMutablePointer<Float>, ldc: Int, blas: BLASFunctions) {
        guard rows > 0, !columns.isEmpty else { return }
        let depth = weights.inputs
        if let panels = weights.panels, rows >= PackedKernel.minimumRows {
            PackedKernel.multiply(rows: rows, depth: depth, a: a, lda: lda, packed: panels, outputs: weights.outputs,
                                  columns: columns, bias: nil, activation: .none, c: c, ldc: ldc)
            return
        }
        if let packed = weights.packed {
            PortableGEMM.multiply(rows: rows, depth: depth, a: a, lda: lda, packed: packed, columns: columns, c: c, ldc: ldc)
            return
        }
        guard let sgemm = blas.sgemm else { preconditionFailure("a prepared model without packed weights needs BLAS") }
        if depth == 0 {
            // BLAS leaves C untouched when K is 0 with beta 0 on some libraries; the product of nothing is zero.
            for row in 0..<rows { (c + row * ldc + columns.lowerBound).update(repeating: 0, count: columns.count) }
            return
        }
        let n0 = columns.lowerBound
        var layout = weights.layout
        var values = weights.values
        if let copy = weights.swappedCopy, preferredLayout(rows: rows) != layout {
            layout = layout.swapped
            values = copy
        }
        if rows == 1, let sgemv = blas.sgemv, depth * columns.count >= matrixVectorThreshold {
            switch layout {
            case .inOut:
                // y[n0..<n1] = W[:, n0..<n1]ᵀ · x with W row-major [in, out].
                sgemv(rowMajor, transpose, Int32(depth), Int32(columns.count), 1, values + n0,
                      Int32(weights.outputs), a, 1, 0, c + n0, 1)
            case .outIn:
                sgemv(rowMajor, noTranspose, Int32(columns.count), Int32(depth), 1, values + n0 * depth,
                      Int32(depth), a, 1, 0, c + n0, 1)
            }
            return
        }
        switch layout {
        case .inOut:
            sgemm(rowMajor, noTranspose, noTranspose, Int32(rows), Int32(columns.count), Int32(depth), 1,
                  a, Int32(lda), values + n0, Int32(weights.outputs), 0, c + n0, Int32(ldc))
        case .outIn:
            // `[out, in]` is Wᵀ: BLAS reads it transposed in place, no copy.
            sgemm(rowMajor, noTranspose, transpose, Int32(rows), Int32(columns.count), Int32(depth), 1,
                  a, Int32(lda), values + n0 * depth, Int32(depth), 0, c + n0, Int32(ldc))
        }
    }
}
