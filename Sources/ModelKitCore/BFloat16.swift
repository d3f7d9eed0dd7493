/// Conversions between `Float` and the bfloat16 bit pattern (the top 16 bits of a float32).
///
/// Swift has no `BFloat16` type on Linux; these are exact: widening is a shift, narrowing rounds to nearest even and
/// keeps NaNs quiet.
public enum BFloat16Bits {
    /// The float32 value of a bfloat16 bit pattern (exact).
    @inlinable
    public static func toFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bfloat16 bit pattern nearest to `value` (round to nearest, ties to even; NaN stays NaN).
    @inlinable
    public static func fromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN {
            // Keep the sign and the top payload bits, and force the quiet bit so the result is still a NaN.
            return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        }
        let lsb = (bits >> 16) & 1
        let rounded = bits &+ 0x7FFF &+ lsb
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
