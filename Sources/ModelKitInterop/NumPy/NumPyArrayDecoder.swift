import ModelKitCore

/// Turns the data bytes of a `.npy` file into a tensor: a view of the file when they are already what we store
/// (little-endian, C order), otherwise one copy that swaps bytes and/or reorders Fortran to C order.
///
/// Views need not be aligned to the element size (np.savez does not align members inside the zip); ``Tensor``
/// allows that, and code that wants typed pointers checks alignment first, as the engine does.
enum NumPyArrayDecoder {
    /// Makes the tensor whose `byteCount` bytes start at `offset` in `storage`.
    ///
    /// The caller has checked that the bytes lie inside `storage` and that `shape` × item size does not overflow.
    static func tensor(storage: TensorStorage, offset: Int, descr: NumPyDescr, shape: Shape,
                       fortranOrder: Bool) throws(TensorError) -> Tensor {
        let dtype = descr.dtype
        let itemSize = dtype.byteSize
        // Fortran and C order coincide when at most one axis is longer than 1.
        let reorder = fortranOrder && shape.dimensions.filter { $0 > 1 }.count > 1
        let swap = descr.isBigEndian && itemSize > 1
        let view = try Tensor(dtype: dtype, shape: shape, storage: storage, byteOffset: offset)
        // Our bool is one byte holding 0 or 1; NumPy reads any non-zero byte as True.
        let needsBoolFix = dtype == .bool && view.bytes.contains { $0 > 1 }
        if !reorder && !swap && !needsBoolFix { return view }

        let source = view.bytes
        return Tensor.make(dtype: dtype, shape: shape) { destination in
            if reorder {
                copyFortranToC(source, destination, itemSize: itemSize, dimensions: shape.dimensions, swap: swap)
            } else if swap {
                copySwapped(source, destination, itemSize: itemSize)
            } else {
                destination.copyMemory(from: source)
            }
            if needsBoolFix {
                for index in destination.indices where destination[index] > 1 { destination[index] = 1 }
            }
        }
    }

    /// Copies elements reversing the bytes of each (big-endian to little-endian).
    static func copySwapped(_ source: UnsafeRawBufferPointer, _ destination: UnsafeMutableRawBufferPointer, itemSize: Int) {
        let count = source.count / itemSize
        switch itemSize {
        case 2:
            for index in 0..<count {
                let value = source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
                destination.storeBytes(of: value.byteSwapped, toByteOffset: 2 * index, as: UInt16.self)
            }
        case 4:
            for index in 0..<count {
                let value = source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
                destination.storeBytes(of: value.byteSwapped, toByteOffset: 4 * index, as: UInt32.self)
            }
        case 8:
            for index in 0..<count {
                let value = source.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                destination.storeBytes(of: value.byteSwapped, toByteOffset: 8 * index, as: UInt64.self)
            }
        default:
            destination.copyMemory(from: source)
        }
    }

    /// Copies a Fortran-order (column-major) array into C order (row-major), optionally swapping bytes.
    ///
    /// In Fortran order the first axis varies fastest: element (i₀, …, iₙ₋₁) sits at Σ iₖ·sₖ with s₀ = 1 and
    /// sₖ = sₖ₋₁·dₖ₋₁. We walk the C-order positions with an odometer and keep that source index up to date.
    static func copyFortranToC(_ source: UnsafeRawBufferPointer, _ destination: UnsafeMutableRawBufferPointer,
                               itemSize: Int, dimensions: [Int], swap: Bool) {
        let count = source.count / itemSize
        guard count > 0 else { return }
        var strides = [Int](repeating: 1, count: dimensions.count)
        for axis in dimensions.indices.dropFirst() { strides[axis] = strides[axis - 1] * dimensions[axis - 1] }
        var index = [Int](repeating: 0, count: dimensions.count)
        var sourceElement = 0
        for element in 0..<count {
            let from = sourceElement * itemSize
            let to = element * itemSize
            for byte in 0..<itemSize {
                destination[to + byte] = source[from + (swap ? itemSize - 1 - byte : byte)]
            }
            // Advance the odometer: the last axis fastest, carrying into earlier axes.
            var axis = dimensions.count - 1
            while axis >= 0 {
                index[axis] += 1
                sourceElement += strides[axis]
                if index[axis] < dimensions[axis] { break }
                sourceElement -= strides[axis] * dimensions[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
