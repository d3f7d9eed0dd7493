/// Swapping the axes of a matrix.
extension Tensor {
    /// The `[columns, rows]` tensor of a `[rows, columns]` one, same dtype (one copy).
    ///
    /// - Throws: ``TensorError/reshape(from:to:)`` when the tensor is not 2-D.
    public func transposed2D() throws(TensorError) -> Tensor {
        guard shape.rank == 2 else { throw .reshape(from: shape, to: shape.transposed) }
        let rows = shape.dimensions[0], columns = shape.dimensions[1], size = dtype.byteSize
        let source = bytes
        return Tensor.make(dtype: dtype, shape: [columns, rows]) { target in
            // Blocked so that both sides stay in cache for large matrices.
            let block = 64
            for rowStart in stride(from: 0, to: rows, by: block) {
                for columnStart in stride(from: 0, to: columns, by: block) {
                    for row in rowStart..<min(rows, rowStart + block) {
                        for column in columnStart..<min(columns, columnStart + block) {
                            let from = (row * columns + column) * size, to = (column * rows + row) * size
                            for byte in 0..<size { target[to + byte] = source[from + byte] }
                        }
                    }
                }
            }
        }
    }
}
