import ModelKitCore

/// Dequantization of ggml's block types to float32, one function per type, following the block layouts of ggml's
/// `ggml-common.h` and the arithmetic of gguf-py's `quants.py` (float32 products and sums in the same order, so the
/// values are equal to gguf-py's bit for bit; Fixtures/expected/gguf/block_types.*.npy are its output).
///
/// Every function reads `count / blockElements` whole blocks from `blocks`, which the caller has checked holds
/// exactly that many; nothing here can read outside it.
enum GGUFBlockDequantizer {
    typealias Kernel = (UnsafeRawBufferPointer, UnsafeMutableBufferPointer<Float>, Int) -> Void

    /// The kernel for `type`, or `nil` when ModelKit does not dequantize it.
    static func kernel(for type: GGUFTensorType) -> Kernel? {
        switch type.rawValue {
        case GGUFTensorType.q8_0.rawValue: return GGUFTensorDecoder.dequantizeQ8_0
        case GGUFTensorType.q4_0.rawValue: return GGUFTensorDecoder.dequantizeQ4_0
        case 3: return q4_1
        case 6: return q5_0
        case 7: return q5_1
        case 10: return q2_K
        case 11: return q3_K
        case 12: return q4_K
        case 13: return q5_K
        case 14: return q6_K
        default: return nil
        }
    }

    private static func half(_ blocks: UnsafeRawBufferPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: blocks.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    private static func word(_ blocks: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: blocks.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    // MARK: Blocks of 32

    /// Q4_1 (20 bytes): f16 `d`, f16 `m`, 16 bytes of nibbles; element `j` is `nibble · d + m` (low nibbles first).
    static func q4_1(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 32) {
            let base = block * 20, out = block * 32
            let d = half(blocks, base), m = half(blocks, base + 2)
            for j in 0..<16 {
                let byte = blocks[base + 4 + j]
                output[out + j] = d * Float(byte & 0x0F) + m
                output[out + 16 + j] = d * Float(byte >> 4) + m
            }
        }
    }

    /// Q5_0 (22 bytes): f16 `d`, a 32-bit mask of fifth bits, 16 bytes of nibbles; element `j` is
    /// `(nibble | bit << 4) − 16` times `d`.
    static func q5_0(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 32) {
            let base = block * 22, out = block * 32
            let d = half(blocks, base), high = word(blocks, base + 2)
            for j in 0..<16 {
                let byte = blocks[base + 6 + j]
                let low = Int(byte & 0x0F) | Int((high >> UInt32(j)) & 1) << 4
                let upper = Int(byte >> 4) | Int((high >> UInt32(j + 16)) & 1) << 4
                output[out + j] = d * Float(low - 16)
                output[out + 16 + j] = d * Float(upper - 16)
            }
        }
    }

    /// Q5_1 (24 bytes): f16 `d`, f16 `m`, the fifth-bit mask, 16 bytes of nibbles; element `j` is `q · d + m`.
    static func q5_1(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 32) {
            let base = block * 24, out = block * 32
            let d = half(blocks, base), m = half(blocks, base + 2), high = word(blocks, base + 4)
            for j in 0..<16 {
                let byte = blocks[base + 8 + j]
                let low = UInt32(byte & 0x0F) | ((high >> UInt32(j)) & 1) << 4
                let upper = UInt32(byte >> 4) | ((high >> UInt32(j + 16)) & 1) << 4
                output[out + j] = d * Float(low) + m
                output[out + 16 + j] = d * Float(upper) + m
            }
        }
    }

    // MARK: K-quants: super-blocks of 256

    /// Q2_K (84 bytes): 16 scale bytes (low nibble scale, high nibble min), 64 bytes of 2-bit quants, f16 `d`, f16
    /// `dmin`; element `i` of sub-block `s` (16 each) is `(d · scale) · q − (dmin · min)`. Quant byte `l` of half
    /// `g` holds elements `g·128 + shift·32 + l` for shifts 0, 2, 4, 6.
    static func q2_K(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 256) {
            let base = block * 84, out = block * 256
            let d = half(blocks, base + 80), dmin = half(blocks, base + 82)
            for group in 0..<2 {
                for shift in 0..<4 {
                    for l in 0..<32 {
                        let index = group * 128 + shift * 32 + l
                        let scales = blocks[base + index / 16]
                        let q = Float((blocks[base + 16 + group * 32 + l] >> UInt8(2 * shift)) & 3)
                        output[out + index] = (d * Float(scales & 0x0F)) * q - dmin * Float(scales >> 4)
                    }
                }
            }
        }
    }

    /// Q3_K (110 bytes): a 32-byte mask of third bits, 64 bytes of 2-bit quants, 12 bytes of 6-bit signed scales
    /// (low nibbles in bytes 0–7, high pairs in 8–11), f16 `d`; element `i` of sub-block `s` is
    /// `(d · (scale − 32)) · (q − (bit ? 0 : 4))`.
    static func q3_K(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 256) {
            let base = block * 110, out = block * 256
            let d = half(blocks, base + 108)
            var scales = [Float](repeating: 0, count: 16)
            for k in 0..<16 {
                let low = (blocks[base + 96 + k % 8] >> UInt8(4 * (k / 8))) & 0x0F
                let high = (blocks[base + 104 + k % 4] >> UInt8(2 * (k / 4))) & 0x03
                scales[k] = d * Float(Int(low | high << 4) - 32)
            }
            for index in 0..<256 {
                let group = index / 128, shift = (index % 128) / 32, l = index % 32
                let low = Int((blocks[base + 32 + group * 32 + l] >> UInt8(2 * shift)) & 3)
                let bit = Int((blocks[base + l] >> UInt8(index / 32)) & 1)
                output[out + index] = scales[index / 16] * Float(low - (bit ^ 1) << 2)
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0–7) from the 12 packed bytes at `offset` (Q4_K, Q5_K).
    private static func scaleAndMin(_ blocks: UnsafeRawBufferPointer, _ offset: Int, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 {
            return (blocks[offset + j] & 0x3F, blocks[offset + 4 + j] & 0x3F)
        }
        let packed = blocks[offset + 8 + j - 4]
        return ((packed & 0x0F) | ((blocks[offset + j - 4] >> 2) & 0x30),
                (packed >> 4) | ((blocks[offset + j] >> 2) & 0x30))
    }

    /// Q4_K (144 bytes): f16 `d`, f16 `dmin`, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles; element `i`
    /// of sub-block `s` (32 each) is `(d · scale) · q − (dmin · min)`. Byte `l` of quarter `g` holds sub-blocks
    /// `2g` (low nibble) and `2g + 1` (high nibble).
    static func q4_K(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 256) {
            let base = block * 144, out = block * 256
            let d = half(blocks, base), dmin = half(blocks, base + 2)
            for sub in 0..<8 {
                let (scale, minimum) = scaleAndMin(blocks, base + 4, sub)
                let dl = d * Float(scale), ml = dmin * Float(minimum)
                let group = sub / 2, shift = UInt8(4 * (sub % 2))
                for l in 0..<32 {
                    let q = Float((blocks[base + 16 + group * 32 + l] >> shift) & 0x0F)
                    output[out + sub * 32 + l] = dl * q - ml
                }
            }
        }
    }

    /// Q5_K (176 bytes): as Q4_K with a 32-byte mask of fifth bits before the nibbles (bit `s` of byte `l` belongs
    /// to element `l` of sub-block `s`).
    static func q5_K(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 256) {
            let base = block * 176, out = block * 256
            let d = half(blocks, base), dmin = half(blocks, base + 2)
            for sub in 0..<8 {
                let (scale, minimum) = scaleAndMin(blocks, base + 4, sub)
                let dl = d * Float(scale), ml = dmin * Float(minimum)
                let group = sub / 2, shift = UInt8(4 * (sub % 2))
                for l in 0..<32 {
                    let low = (blocks[base + 48 + group * 32 + l] >> shift) & 0x0F
                    let high = (blocks[base + 16 + l] >> UInt8(sub)) & 1
                    output[out + sub * 32 + l] = dl * Float(low | high << 4) - ml
                }
            }
        }
    }

    /// Q6_K (210 bytes): 128 bytes of low nibbles, 64 bytes of high pairs, 16 signed scales, f16 `d`; element `i`
    /// of sub-block `s` (16 each) is `(d · scale) · (q − 32)`.
    static func q6_K(_ blocks: UnsafeRawBufferPointer, _ output: UnsafeMutableBufferPointer<Float>, _ count: Int) {
        for block in 0..<(count / 256) {
            let base = block * 210, out = block * 256
            let d = half(blocks, base + 208)
            for index in 0..<256 {
                let half128 = index / 128, rest = index % 128
                let nibbleShift = UInt8(4 * (rest / 64)), lowByte = rest % 64
                let low = (blocks[base + half128 * 64 + lowByte] >> nibbleShift) & 0x0F
                let pairShift = UInt8(2 * (rest / 32)), highByte = rest % 32
                let high = (blocks[base + 128 + half128 * 32 + highByte] >> pairShift) & 0x03
                let scale = Float(Int8(bitPattern: blocks[base + 192 + index / 16]))
                output[out + index] = (d * scale) * Float(Int(low | high << 4) - 32)
            }
        }
    }
}
