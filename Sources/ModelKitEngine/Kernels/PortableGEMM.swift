import ModelKitCore

/// The matrix product used when no BLAS library can be loaded: correct everywhere, a few times slower than BLAS.
///
/// Weights are packed once into panels of ``panelWidth`` output columns (`[panel][k][8]`, zero-padded), so the inner
/// loop streams one contiguous panel and keeps a 4 × 8 block of results in registers, whatever the stored layout.
enum PortableGEMM {
    static let panelWidth = 8

    /// Float count of the packed form of a `[inputs → outputs]` weight.
    static func packedCount(inputs: Int, outputs: Int) -> Int {
        (outputs + panelWidth - 1) / panelWidth * panelWidth * inputs
    }

    /// Packs a weight stored in `layout` (`[in, out]` or `[out, in]`) into panels.
    static func pack(_ weights: UnsafePointer<Float>, layout: WeightLayout, inputs: Int, outputs: Int,
                     into packed: UnsafeMutablePointer<Float>) {
        let panels = (outputs + panelWidth - 1) / panelWidth
        for panel in 0..<panels {
            let destination = packed + panel * inputs * panelWidth
            for k in 0..<inputs {
                for lane in 0..<panelWidth {
                    let column = panel * panelWidth + lane
                    var value: Float = 0
                    if column < outputs {
                        value = layout == .inOut ? weights[k * outputs + column] : weights[column * inputs + k]
                    }
                    destination[k * panelWidth + lane] = value
                }
            }
        }
    }

    /// `C[0..<rows, columns] = A[0..<rows, 0..<depth] · W[:, columns]`; `columns.lowerBound` is a multiple of
    /// ``panelWidth`` (or `columns` ends at the matrix's last column).
    static func multiply(rows: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, packed: UnsafePointer<Float>,
                         columns: Range<Int>, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(columns.lowerBound % panelWidth == 0, "column blocks start at a panel boundary")
        var panelStart = columns.lowerBound
        while panelStart < columns.upperBound {
            let width = Swift.min(panelWidth, columns.upperBound - panelStart)
            let panel = packed + (panelStart / panelWidth) * depth * panelWidth
            var row = 0
            while row + 4 <= rows {
                let a0 = a + row * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
                var c0 = FloatVector(), c1 = FloatVector(), c2 = FloatVector(), c3 = FloatVector()
                for k in 0..<depth {
                    let w = Epilogue.load(panel + k * panelWidth)
                    c0 += a0[k] * w
                    c1 += a1[k] * w
                    c2 += a2[k] * w
                    c3 += a3[k] * w
                }
                let out = c + row * ldc + panelStart
                write(c0, out, width)
                write(c1, out + ldc, width)
                write(c2, out + 2 * ldc, width)
                write(c3, out + 3 * ldc, width)
                row += 4
            }
            while row < rows {
                let a0 = a + row * lda
                var c0 = FloatVector()
                for k in 0..<depth { c0 += a0[k] * Epilogue.load(panel + k * panelWidth) }
                write(c0, c + row * ldc + panelStart, width)
                row += 1
            }
            panelStart += width
        }
    }

    @inline(__always)
    private static func write(_ value: FloatVector, _ pointer: UnsafeMutablePointer<Float>, _ width: Int) {
        if width == panelWidth {
            Epilogue.store(value, pointer)
        } else {
            for lane in 0..<width { pointer[lane] = value[lane] }
        }
    }
}
