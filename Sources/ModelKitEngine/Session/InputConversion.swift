import ModelKitCore

/// Reads input values of any floating-point dtype as float32, a chunk at a time.
enum InputConversion {
    /// Converts `count` little-endian values of `dtype`, starting at element `firstElement` of `raw`, into `destination`.
    static func convert(_ raw: UnsafeRawPointer, dtype: DType, firstElement: Int, count: Int,
                        into destination: UnsafeMutablePointer<Float>) {
        let size = dtype.byteSize
        let base = raw + firstElement * size
        switch dtype {
        case .float32:
            for index in 0..<count {
                destination[index] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
            }
        case .float16:
            for index in 0..<count {
                destination[index] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))))
            }
        case .bfloat16:
            for index in 0..<count {
                destination[index] = BFloat16Bits.toFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
            }
        case .float64:
            for index in 0..<count {
                destination[index] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))))
            }
        default:
            preconditionFailure("input dtype \(dtype.rawValue) is checked before conversion")
        }
    }
}
