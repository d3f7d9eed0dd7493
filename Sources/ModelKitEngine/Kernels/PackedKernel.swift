import CModelKitKernels
import ModelKitCore

/// The engine's own matrix product for batches of a few rows up: weights packed once, at prepare time, into panels
/// of 16 output columns, multiplied by register-blocked AVX-512 (or AVX2) micro-kernels with bias and ReLU fused.
///
/// Why not BLAS there: `sgemm` packs the weight again on every call, and at the example network's sizes (batch 50,
/// 400 → 200) that copy costs as much as a third of the product; the packed form is made once per session.
/// BLAS stays in use for one to a few rows (its matrix-vector path) and wherever no AVX2 is available.
enum PackedKernel {
    /// Columns per panel; column blocks given to ``multiply`` start at a multiple of it.
    static let panelWidth = Int(MK_PANEL_WIDTH)

    /// The instruction-set level this process uses: 2 AVX-512, 1 AVX2 + FMA, 0 portable C.
    static let level = Int(mk_best_level())

    /// Whether the packed kernel is used at all: only with AVX2 or better (elsewhere BLAS or Accelerate is faster).
    static var isAvailable: Bool { level >= 1 }

    /// Batches of fewer rows go through BLAS: a tile of one or two rows keeps too few accumulators busy to beat
    /// `sgemv` / a small `sgemm`.
    static let minimumRows = 4

    /// Float count of the packed form of a `[inputs → outputs]` weight.
    static func packedCount(inputs: Int, outputs: Int) -> Int {
        Int(mk_packed_count(Int64(inputs), Int64(outputs)))
    }

    /// Packs a weight stored in `layout` into panels (`packed` holds ``packedCount(inputs:outputs:)`` floats,
    /// 64-byte aligned).
    static func pack(_ weights: UnsafePointer<Float>, layout: WeightLayout, inputs: Int, outputs: Int,
                     into packed: UnsafeMutablePointer<Float>) {
        mk_pack(weights, layout == .outIn ? 1 : 0, Int64(inputs), Int64(outputs), packed)
    }

    /// What the kernel applies after the bias, in registers; anything else runs in ``Epilogue`` afterwards.
    enum FusedActivation {
        case none
        case relu
        case leakyRelu(alpha: Float)

        var code: Int32 {
            switch self {
            case .none: Int32(MK_EPILOGUE_NONE.rawValue)
            case .relu: Int32(MK_EPILOGUE_RELU.rawValue)
            case .leakyRelu: Int32(MK_EPILOGUE_LEAKY_RELU.rawValue)
            }
        }

        var alpha: Float {
            if case .leakyRelu(let alpha) = self { return alpha }
            return 0
        }

        /// The first activation when the kernel can fuse it, and the activations left for ``Epilogue``.
        static func split(_ activations: [ElementwiseActivation]) -> (fused: FusedActivation, rest: ArraySlice<ElementwiseActivation>) {
            switch activations.first {
            case .relu: (.relu, activations.dropFirst())
            case .leakyRelu(let alpha): (.leakyRelu(alpha: alpha), activations.dropFirst())
            default: (.none, activations[...])
            }
        }
    }

    /// `C[0..<rows, columns] = act(A[0..<rows, 0..<depth] · W[:, columns] + bias[columns])`, where `c` points at
    /// row 0, column 0 of the output and `bias` at column 0. `columns.lowerBound` is a multiple of ``panelWidth``
    /// and `columns.upperBound` is one too or equals `outputs`.
    static func multiply(rows: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
                         outputs: Int, columns: Range<Int>, bias: UnsafePointer<Float>?, activation: FusedActivation,
                         c: UnsafeMutablePointer<Float>, ldc: Int, level: Int = PackedKernel.level) {
        guard rows > 0, !columns.isEmpty else { return }
        precondition(columns.lowerBound % panelWidth == 0 && columns.upperBound <= outputs
                     && (columns.upperBound % panelWidth == 0 || columns.upperBound == outputs),
                     "column blocks of the packed kernel follow its panels")
        let firstPanel = columns.lowerBound / panelWidth
        let endPanel = (columns.upperBound + panelWidth - 1) / panelWidth
        mk_gemm_packed(Int32(level), Int64(rows), Int64(depth), a, Int64(lda), packed, Int64(outputs), Int64(firstPanel),
                       Int64(endPanel), bias, activation.code, activation.alpha, c, Int64(ldc))
    }
}
