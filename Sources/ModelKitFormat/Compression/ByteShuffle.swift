/// The byte-shuffle filter (HDF5, Blosc): byte *k* of every element goes to plane *k*, so the slowly varying
/// exponent bytes of floats sit together and deflate compresses them well (Specs/checkpoint.md Z2).
public enum ByteShuffle {
    /// Writes the planes of `source` (elements of `stride` bytes) into `destination` (same size).
    public static func shuffle(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, stride: Int) {
        precondition(source.count == destination.count && stride > 0 && source.count % stride == 0, "shuffle: bad sizes")
        guard stride > 1 else { destination.copyMemory(from: source); return }
        let count = source.count / stride
        guard let input = source.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let output = destination.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        for plane in 0..<stride {
            let out = output + plane * count
            var index = 0
            while index < count {
                out[index] = input[index * stride + plane]
                index += 1
            }
        }
    }

    /// Inverse of ``shuffle(_:into:stride:)``.
    public static func unshuffle(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, stride: Int) {
        precondition(source.count == destination.count && stride > 0 && source.count % stride == 0, "unshuffle: bad sizes")
        guard stride > 1 else { destination.copyMemory(from: source); return }
        let count = source.count / stride
        guard let input = source.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let output = destination.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        for plane in 0..<stride {
            let planeStart = input + plane * count
            var index = 0
            while index < count {
                output[index * stride + plane] = planeStart[index]
                index += 1
            }
        }
    }
}
