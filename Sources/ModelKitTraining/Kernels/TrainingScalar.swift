#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ModelKitEngine

/// The number type a network is trained in: `Float` for training, `Double` for gradient checking.
///
/// Why a protocol: the gradient rules (``ActivationRule``, ``DenseRule``, ``LossFunction``) are written once,
/// generically, so the float64 path that checks them against finite differences runs exactly the code that trains.
/// The scalar functions are the C library's (correctly rounded to about one ulp), not the inference engine's faster
/// vector approximations, so that float32 training stays within float32 rounding of PyTorch.
public protocol TrainingScalar: BinaryFloatingPoint, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// `e^x`.
    static func exponential(_ x: Self) -> Self
    /// The natural logarithm.
    static func logarithm(_ x: Self) -> Self
    /// `log(1 + x)`, accurate for small `x`.
    static func logarithmOnePlus(_ x: Self) -> Self
    /// The hyperbolic tangent.
    static func hyperbolicTangent(_ x: Self) -> Self
    /// The error function.
    static func errorFunction(_ x: Self) -> Self

    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, where `op` transposes when asked:
    /// `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n` with row stride `ldc`.
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
                     c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: TrainingScalar {
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func exponential(_ x: Float) -> Float { expf(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func logarithm(_ x: Float) -> Float { logf(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func logarithmOnePlus(_ x: Float) -> Float { log1pf(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func hyperbolicTangent(_ x: Float) -> Float { tanhf(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func errorFunction(_ x: Float) -> Float { erff(x) }

    /// Through the engine's run-time loaded BLAS, split over the engine's worker threads when the product is large.
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        ParallelGEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                              a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

extension Double: TrainingScalar {
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func exponential(_ x: Double) -> Double { exp(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func logarithm(_ x: Double) -> Double { log(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func logarithmOnePlus(_ x: Double) -> Double { log1p(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func hyperbolicTangent(_ x: Double) -> Double { tanh(x) }
    /// The C library's function (see ``TrainingScalar``).
    @inline(__always) public static func errorFunction(_ x: Double) -> Double { erf(x) }

    /// Plain loops: the float64 path only checks gradients of small networks.
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
                            c: UnsafeMutablePointer<Double>, ldc: Int) {
        ReferenceGEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

/// The textbook triple loop, for any scalar (the float64 path, and float32 when no BLAS library loads).
enum ReferenceGEMM {
    static func multiply<T: BinaryFloatingPoint>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                                 a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, beta: T,
                                                 c: UnsafeMutablePointer<T>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: T = 0
                for p in 0..<k {
                    let left = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let right = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += left * right
                }
                let previous = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * sum + previous
            }
        }
    }
}
