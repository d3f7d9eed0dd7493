import ModelKitCore

/// Turns a tensor info and the file's bytes into a ``Tensor``: plain types are viewed in place (no copy), block types
/// (Q8_0, Q4_0 here; Q4_1, Q5_0, Q5_1 and the K-quants Q2_K–Q6_K in ``GGUFBlockDequantizer``) are dequantized to
/// float32 exactly as gguf-py's `quants.py` does.
enum GGUFTensorDecoder {
    /// The tensor `info` describes, viewing `storage` when its type is stored as is.
    ///
    /// `info` must come from ``GGUFHeaderParser`` on the same bytes, which proved its range lies inside them.
    static func tensor(_ info: GGUFTensorInfo, storage: TensorStorage, source: String) throws(GGUFError) -> Tensor {
        let shape = info.shape
        if let dtype = info.type.directDType {
            do {
                return try Tensor(dtype: dtype, shape: shape, storage: storage, byteOffset: info.fileOffset)
            } catch {
                throw .invalidDataLayout(source: source, tensor: info.name, reason: error.description)
            }
        }
        guard let kernel = GGUFBlockDequantizer.kernel(for: info.type), let byteCount = info.byteCount,
              let layout = info.type.blockLayout, info.elementCount % layout.elements == 0,
              byteCount == info.elementCount / layout.elements * layout.bytes,
              info.fileOffset + byteCount <= storage.bytes.count else {
            throw .unsupportedTensorType(source: source, tensor: info.name, type: info.type)
        }
        let blocks = UnsafeRawBufferPointer(rebasing: storage.bytes[info.fileOffset..<(info.fileOffset + byteCount)])
        let count = info.elementCount
        return Tensor.make(dtype: .float32, shape: shape) { raw in
            kernel(blocks, raw.bindMemory(to: Float.self), count)
        }
    }

    /// Q8_0 blocks (34 bytes): f16 scale `d`, then 32 int8 `q`; element `i` of the block is `Float(q[i]) · Float(d)`.
    static func dequantizeQ8_0(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        let blockCount = count / 32
        for block in 0..<blockCount {
            let base = block * 34
            let scale = Float(Float16(bitPattern: UInt16(littleEndian: blocks.loadUnaligned(fromByteOffset: base, as: UInt16.self))))
            for index in 0..<32 {
                output[block * 32 + index] = Float(Int8(bitPattern: blocks[base + 2 + index])) * scale
            }
        }
    }

    /// Q4_0 blocks (18 bytes): f16 scale `d`, then 16 bytes; element `j < 16` is the low nibble of byte `j`, element
    /// `j + 16` its high nibble, each giving `Float(nibble − 8) · Float(d)`.
    static func dequantizeQ4_0(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        let blockCount = count / 32
        for block in 0..<blockCount {
            let base = block * 18
            let scale = Float(Float16(bitPattern: UInt16(littleEndian: blocks.loadUnaligned(fromByteOffset: base, as: UInt16.self))))
            for index in 0..<16 {
                let byte = blocks[base + 2 + index]
                output[block * 32 + index] = Float(Int(byte & 0x0F) - 8) * scale
                output[block * 32 + 16 + index] = Float(Int(byte >> 4) - 8) * scale
            }
        }
    }
}
