/// Eight-lane float32 math for activations: `exp`, `tanh`, `sigmoid`, `erfc`.
///
/// Why hand-written: the standard library has no vector `exp`, and calling the scalar C functions element by element
/// costs more than the matrix product of a small layer. The formulas use only add, multiply, divide, compare and
/// integer bit operations, which every SIMD instruction set has (including the x86-64 baseline the package is
/// compiled for), so nothing falls back to per-lane library calls. Accuracy is stated per function and checked
/// against float64 references in the tests.
typealias FloatVector = SIMD8<Float>

enum VectorMath {
    /// `e^x`, relative error below 2·10⁻⁷; +inf above 88.72; 0 below −87.
    ///
    /// Cephes `expf`: `x = n·ln2 + r` with |r| ≤ ln2/2, a degree-6 polynomial for `e^r`, then `2^n` built from
    /// exponent bits in two halves so that near-overflow results need no special case. Results that would be
    /// subnormal (below 1.2·10⁻³⁸) are flushed to zero: arithmetic on subnormals takes a microcode assist of
    /// ~100 cycles per operation on x86 (a softmax row padded with −inf ran 20× slower), and no activation or
    /// probability needs them.
    @inline(__always)
    static func exp(_ x: FloatVector) -> FloatVector {
        let clamped = x.clamped(lowerBound: FloatVector(repeating: -87), upperBound: FloatVector(repeating: 89))
        // Round to the nearest integer without an instruction newer than SSE2: add and subtract 1.5·2²³.
        let magic: Float = 12_582_912
        let shifted = clamped * 1.442_695_040_888_963_4 + magic
        let n = shifted - magic
        var r = clamped - n * 0.693_359_375
        r = r - n * -2.121_944_400_546_905_8e-4
        var p = FloatVector(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        // n as an integer: the low mantissa bits of `shifted` hold it (offset by the magic number's bits).
        let integer = SIMD8<Int32>(truncatingIfNeeded: shifted.bits) &- Int32(bitPattern: magic.bitPattern)
        let half = integer &>> 1
        let rest = integer &- half
        let scale1 = FloatVector(bits: SIMD8<UInt32>(truncatingIfNeeded: (half &+ 127) &<< 23))
        let scale2 = FloatVector(bits: SIMD8<UInt32>(truncatingIfNeeded: (rest &+ 127) &<< 23))
        let result = (p * scale1 * scale2).replacing(with: 0, where: x .< -87)
        return result.replacing(with: x, where: x .!= x)
    }

    /// `1 / (1 + e^−x)`, written so that neither tail cancels.
    @inline(__always)
    static func sigmoid(_ x: FloatVector) -> FloatVector {
        1 / (1 + exp(-x))
    }

    /// `tanh x`: Cephes `tanhf` (odd polynomial below |x| = 0.625, `1 − 2/(e^{2|x|} + 1)` above).
    @inline(__always)
    static func tanh(_ x: FloatVector) -> FloatVector {
        let signBits = x.bits & 0x8000_0000
        let magnitude = FloatVector(bits: x.bits & 0x7FFF_FFFF)
        let large = 1 - 2 / (exp(magnitude + magnitude) + 1)
        let z = x * x
        var p = FloatVector(repeating: -5.704_988_727_45e-3)
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let small = x + x * z * p
        let signedLarge = FloatVector(bits: large.bits | signBits)
        return signedLarge.replacing(with: small, where: magnitude .< 0.625)
    }

    /// `erfc x` for x ≥ 0 (Numerical Recipes' Chebyshev fit `erfcc`, relative error 1.2·10⁻⁷), so the tail keeps its
    /// precision where `1 − erf` would cancel. In float32 the exponent `−x²` is rounded, which adds a relative error
    /// of about 1.2·10⁻⁷·x² (5·10⁻⁶ at x = 6, where erfc is 2·10⁻¹⁷).
    @inline(__always)
    static func erfcNonNegative(_ x: FloatVector) -> FloatVector {
        let t = 1 / (1 + 0.5 * x)
        var p = FloatVector(repeating: 0.170_872_77)
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        return t * exp(p - x * x)
    }

    /// GELU, exact form `x·Φ(x) = ½·x·erfc(−x/√2)`: for x < 0 the tail `erfc(|x|/√2)` is used directly (no
    /// cancellation), for x ≥ 0 `2 − erfc(x/√2)`.
    @inline(__always)
    static func gelu(_ x: FloatVector) -> FloatVector {
        let magnitude = FloatVector(bits: x.bits & 0x7FFF_FFFF)
        let tail = erfcNonNegative(magnitude * 0.707_106_781_186_547_5)
        let twicePhi = (2 - tail).replacing(with: tail, where: x .< 0)
        return 0.5 * x * twicePhi
    }

    /// GELU, tanh approximation `½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as `x·sigmoid(2u)` (the same
    /// value: 1 + tanh u = 2·sigmoid 2u) so that the negative tail does not cancel.
    @inline(__always)
    static func geluTanh(_ x: FloatVector) -> FloatVector {
        let inner = 0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x)
        return x * sigmoid(inner + inner)
    }
}

extension SIMD8 where Scalar == Float {
    /// The lanes' bit patterns (a reinterpretation; no instruction).
    @inline(__always)
    var bits: SIMD8<UInt32> { unsafeBitCast(self, to: SIMD8<UInt32>.self) }

    /// Floats with the given bit patterns.
    @inline(__always)
    init(bits: SIMD8<UInt32>) { self = unsafeBitCast(bits, to: SIMD8<Float>.self) }
}
