import ModelKitCore

/// The forward formula and gradient rule of a dense layer, for either stored weight layout (`Specs/layers.md`,
/// "dense" → "Backward").
///
/// With `X` `[rows, in]`, `δ` = ∂L/∂Y `[rows, out]`:
///
/// | layout | forward | ∇W (W's own shape) | ∂L/∂X |
/// |---|---|---|---|
/// | `out_in` `[out, in]` | `Y = X·Wᵀ + b` | `δᵀ·X` `[out, in]` | `δ·W` |
/// | `in_out` `[in, out]` | `Y = X·W + b` | `Xᵀ·δ` `[in, out]` | `δ·Wᵀ` |
///
/// and ∇b = the column sums of `δ` (`[out]`). The gradient always has the weight's shape and layout, so optimizer
/// state and exported gradients line up with the stored tensor element for element.
public enum DenseRule {
    /// `Y = X·op(W) + b` for `rows` rows.
    public static func forward<T: TrainingScalar>(input x: UnsafePointer<T>, weight w: UnsafePointer<T>,
                                                  bias b: UnsafePointer<T>?, output y: UnsafeMutablePointer<T>,
                                                  rows: Int, inputs: Int, outputs: Int, layout: WeightLayout) {
        guard rows > 0, outputs > 0 else { return }
        if let b {
            for row in 0..<rows { (y + row * outputs).update(from: b, count: outputs) }
        }
        let beta: T = b == nil ? 0 : 1
        if inputs == 0 {
            if b == nil { y.update(repeating: 0, count: rows * outputs) }
            return
        }
        switch layout {
        case .outIn:
            T.gemm(transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs, alpha: 1, a: x, lda: inputs,
                   b: w, ldb: inputs, beta: beta, c: y, ldc: outputs)
        case .inOut:
            T.gemm(transposeA: false, transposeB: false, m: rows, n: outputs, k: inputs, alpha: 1, a: x, lda: inputs,
                   b: w, ldb: outputs, beta: beta, c: y, ldc: outputs)
        }
    }

    /// ∇W (in W's layout) and ∇b from `δ` and the layer's input `X`. Overwrites both (no accumulation).
    public static func parameterGradients<T: TrainingScalar>(input x: UnsafePointer<T>, outputGradient delta: UnsafePointer<T>,
                                                             weightGradient gw: UnsafeMutablePointer<T>,
                                                             biasGradient gb: UnsafeMutablePointer<T>?,
                                                             rows: Int, inputs: Int, outputs: Int, layout: WeightLayout) {
        if rows == 0 {
            gw.update(repeating: 0, count: inputs * outputs)
            gb?.update(repeating: 0, count: outputs)
            return
        }
        switch layout {
        case .outIn:
            // [out, in] = δᵀ[out, rows] · X[rows, in]
            T.gemm(transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, alpha: 1, a: delta, lda: outputs,
                   b: x, ldb: inputs, beta: 0, c: gw, ldc: inputs)
        case .inOut:
            // [in, out] = Xᵀ[in, rows] · δ[rows, out]
            T.gemm(transposeA: true, transposeB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: x, lda: inputs,
                   b: delta, ldb: outputs, beta: 0, c: gw, ldc: outputs)
        }
        if let gb {
            gb.update(from: delta, count: outputs)
            for row in 1..<max(rows, 1) {
                let line = delta + row * outputs
                for column in 0..<outputs { gb[column] += line[column] }
            }
        }
    }

    /// ∂L/∂X `[rows, in]` from `δ` `[rows, out]`.
    public static func inputGradient<T: TrainingScalar>(outputGradient delta: UnsafePointer<T>, weight w: UnsafePointer<T>,
                                                        inputGradient dx: UnsafeMutablePointer<T>,
                                                        rows: Int, inputs: Int, outputs: Int, layout: WeightLayout) {
        guard rows > 0, inputs > 0 else { return }
        if outputs == 0 {
            dx.update(repeating: 0, count: rows * inputs)
            return
        }
        switch layout {
        case .outIn:
            // δ[rows, out] · W[out, in]
            T.gemm(transposeA: false, transposeB: false, m: rows, n: inputs, k: outputs, alpha: 1, a: delta, lda: outputs,
                   b: w, ldb: inputs, beta: 0, c: dx, ldc: inputs)
        case .inOut:
            // δ[rows, out] · Wᵀ, W stored [in, out]
            T.gemm(transposeA: false, transposeB: true, m: rows, n: inputs, k: outputs, alpha: 1, a: delta, lda: outputs,
                   b: w, ldb: outputs, beta: 0, c: dx, ldc: inputs)
        }
    }
}
