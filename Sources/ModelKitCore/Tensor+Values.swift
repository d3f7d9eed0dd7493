/// Reading and converting element values.
extension Tensor {
    /// The values as `Float`, converting from any dtype (float64 and large integers round to nearest).
    public func floatValues() -> [Float] {
        [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            copyFloats(into: UnsafeMutableBufferPointer(rebasing: buffer[0..<elementCount]))
            initialized = elementCount
        }
    }

    /// Writes the values as `Float` into `destination`, which must hold ``elementCount`` elements.
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= elementCount, "destination too small")
        copyFloats(elements: 0..<elementCount, into: destination)
    }

    /// Writes the values of `elements` as `Float` to the start of `destination`.
    func copyFloats(elements: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= elements.count && elements.upperBound <= elementCount, "destination too small")
        let source = bytes
        let first = elements.lowerBound
        let count = elements.count
        switch dtype {
        case .float32:
            // memcpy-speed path; unaligned sources (a mapped file is 64-aligned, but views need not be) are fine.
            UnsafeMutableRawBufferPointer(destination).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(4 * first)..<(4 * (first + count))]))
        case .float16:
            for index in 0..<count {
                destination[index] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * (first + index), as: UInt16.self).littleEndian))
            }
        case .bfloat16:
            for index in 0..<count {
                destination[index] = BFloat16Bits.toFloat(source.loadUnaligned(fromByteOffset: 2 * (first + index), as: UInt16.self).littleEndian)
            }
        case .float64:
            for index in 0..<count {
                destination[index] = Float(Double(bitPattern: source.loadUnaligned(fromByteOffset: 8 * (first + index), as: UInt64.self).littleEndian))
            }
        case .int8:
            for index in 0..<count { destination[index] = Float(Int8(bitPattern: source[first + index])) }
        case .uint8, .bool:
            for index in 0..<count { destination[index] = Float(source[first + index]) }
        case .int16:
            for index in 0..<count { destination[index] = Float(Int16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * (first + index), as: Int16.self))) }
        case .int32:
            for index in 0..<count { destination[index] = Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * (first + index), as: Int32.self))) }
        case .int64:
            for index in 0..<count { destination[index] = Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * (first + index), as: Int64.self))) }
        }
    }

    /// The tensor stored as another floating-point dtype (round to nearest even). Same dtype returns `self`.
    public func converted(to target: DType) throws(TensorError) -> Tensor {
        guard target != dtype else { return self }
        guard target.isFloatingPoint else { throw .notFloatingPoint(target) }
        if target == .float64 {
            let values = (0..<elementCount).map { element(at: $0) }
            return Tensor.make(dtype: .float64, shape: shape) { raw in
                for (index, value) in values.enumerated() {
                    raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 8 * index, as: UInt64.self)
                }
            }
        }
        // Through a float32 buffer of at most 64 Ki elements, so converting a large tensor needs no full-size copy.
        // (float64 → float16/bfloat16 rounds twice, through float32, as PyTorch's `.to()` does.)
        let chunk = Swift.min(elementCount, 65_536)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: Swift.max(chunk, 1))
        defer { buffer.deallocate() }
        return Tensor.make(dtype: target, shape: shape) { raw in
            var start = 0
            while start < elementCount {
                let count = Swift.min(chunk, elementCount - start)
                copyFloats(elements: start..<(start + count), into: buffer)
                for offset in 0..<count {
                    let value = buffer[offset], index = start + offset
                    switch target {
                    case .float32: raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
                    case .float16: raw.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: 2 * index, as: UInt16.self)
                    case .bfloat16: raw.storeBytes(of: BFloat16Bits.fromFloat(value).littleEndian, toByteOffset: 2 * index, as: UInt16.self)
                    default: break
                    }
                }
                start += count
            }
        }
    }

    /// The element at a flat row-major index as `Double` (exact for every dtype but int64 beyond 2⁵³).
    public func element(at index: Int) -> Double {
        let source = bytes
        switch dtype {
        case .float32: return Double(Float(bitPattern: source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self).littleEndian))
        case .float16: return Double(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self).littleEndian))
        case .bfloat16: return Double(BFloat16Bits.toFloat(source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self).littleEndian))
        case .float64: return Double(bitPattern: source.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self).littleEndian)
        case .int8: return Double(Int8(bitPattern: source[index]))
        case .uint8, .bool: return Double(source[index])
        case .int16: return Double(Int16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: Int16.self)))
        case .int32: return Double(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * index, as: Int32.self)))
        case .int64: return Double(Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self)))
        }
    }

    /// The element at a flat row-major index as `Int64`, exactly, for integer and bool dtypes (`nil` for floats).
    public func integerElement(at index: Int) -> Int64? {
        let source = bytes
        switch dtype {
        case .int8: return Int64(Int8(bitPattern: source[index]))
        case .uint8, .bool: return Int64(source[index])
        case .int16: return Int64(Int16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: Int16.self)))
        case .int32: return Int64(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * index, as: Int32.self)))
        case .int64: return Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
        case .float32, .float16, .bfloat16, .float64: return nil
        }
    }

    /// Allocates a tensor and lets `fill` write its bytes.
    public static func make(dtype: DType, shape: Shape, fill: (UnsafeMutableRawBufferPointer) -> Void) -> Tensor {
        guard let count = shape.byteCount(for: dtype) else { preconditionFailure("shape \(shape) overflows") }
        let storage = TensorStorage(count: count, initialize: fill)
        // The storage was sized from this shape, so the view always fits.
        guard let tensor = try? Tensor(dtype: dtype, shape: shape, storage: storage) else {
            preconditionFailure("tensor does not fit its own storage")
        }
        return tensor
    }

    /// True when any floating-point element is NaN or infinite.
    public var hasNonFiniteValues: Bool {
        guard dtype.isFloatingPoint else { return false }
        for index in 0..<elementCount where !element(at: index).isFinite { return true }
        return false
    }
}
