import ModelKitCore

/// Predictions from tensors, flat arrays and rows.
extension InferenceSession {
    /// Runs a `[batch, inputFeatures]` tensor of any floating-point dtype; returns float32 `[batch, outputFeatures]`.
    ///
    /// An input with more dimensions, `[batch, d₁, …, dₖ]` with `d₁·…·dₖ = inputFeatures` (images for a network
    /// that starts with PyTorch's `nn.Flatten` or Keras' `Flatten`), is read row-major as `[batch, inputFeatures]`,
    /// which is exactly what those layers do; no copy is made.
    ///
    /// ```swift
    /// let output = try session.predict(Tensor(float32: values, shape: [2, 400])) // shape [2, 2]
    /// ```
    ///
    /// - Throws: ``EngineError/inputFeatures(shape:expectedFeatures:)`` when rows do not have `inputFeatures`
    ///   values (saying so when the input looks transposed), or another ``EngineError`` for a wrong rank or dtype.
    public func predict(_ input: Tensor) throws(EngineError) -> Tensor {
        guard input.dtype.isFloatingPoint else { throw .inputDType(input.dtype) }
        guard input.shape.rank >= 2 else { throw .inputRank(shape: input.shape, expectedFeatures: inputFeatures) }
        // The shape exists, so the product of its dimensions cannot overflow.
        guard input.shape.dimensions.dropFirst().reduce(1, *) == inputFeatures else {
            if input.shape.rank > 2 { throw .inputRank(shape: input.shape, expectedFeatures: inputFeatures) }
            throw .inputFeatures(shape: input.shape, expectedFeatures: inputFeatures)
        }
        let batchSize = input.shape.dimensions[0]
        let outputShape = Shape([batchSize, outputFeatures])
        guard let byteCount = outputShape.byteCount(for: .float32) else {
            throw .outputBufferTooSmall(count: 0, required: Int.max, batchSize: batchSize, features: outputFeatures)
        }
        let storage = TensorStorage(count: byteCount) { raw in
            guard batchSize > 0, let outputBase = raw.baseAddress, let inputBase = input.bytes.baseAddress else { return }
            let output = outputBase.bindMemory(to: Float.self, capacity: batchSize * outputFeatures)
            #if _endian(little)
            let direct = input.dtype == .float32 && Int(bitPattern: inputBase) % MemoryLayout<Float>.alignment == 0
            #else
            let direct = false
            #endif
            let source: InputSource = direct
                ? .float32(inputBase.assumingMemoryBound(to: Float.self)) : .converting(inputBase, input.dtype)
            run(batchSize: batchSize, source: source, output: output)
        }
        do {
            return try Tensor(dtype: .float32, shape: outputShape, storage: storage)
        } catch {
            preconditionFailure("an output tensor does not fit the storage made for it: \(error)")
        }
    }

    /// Runs `batchSize` rows given as `batchSize × inputFeatures` values, row-major; returns
    /// `batchSize × outputFeatures` values.
    ///
    /// - Throws: ``EngineError/valueCount(count:batchSize:features:)`` when the count does not match.
    public func predict(_ values: [Float], batchSize: Int) throws(EngineError) -> [Float] {
        guard batchSize >= 0 else { throw .negativeBatchSize(batchSize) }
        let (outputCount, overflow) = batchSize.multipliedReportingOverflow(by: outputFeatures)
        guard !overflow, values.count == batchSize * inputFeatures else {
            throw .valueCount(count: values.count, batchSize: batchSize, features: inputFeatures)
        }
        return try values.withUnsafeBufferPointer { (input) throws(EngineError) -> [Float] in
            try [Float](unsafeUninitializedCapacity: outputCount) { (output, initialized) throws(EngineError) in
                try predict(input: input, batchSize: batchSize, output: output)
                initialized = outputCount
            }
        }
    }

    /// Runs one row per element of `rows`; returns one output row per input row.
    ///
    /// - Throws: ``EngineError/raggedRows(row:count:expectedFeatures:)`` for a row of the wrong length, or
    ///   ``EngineError/inputFeatures(shape:expectedFeatures:)`` when every row has the same wrong length (saying
    ///   so when the rows look like features rather than samples).
    public func predict(_ rows: [[Float]]) throws(EngineError) -> [[Float]] {
        if let first = rows.first, first.count != inputFeatures, rows.allSatisfy({ $0.count == first.count }) {
            throw .inputFeatures(shape: Shape([rows.count, first.count]), expectedFeatures: inputFeatures)
        }
        var flat: [Float] = []
        flat.reserveCapacity(rows.count * inputFeatures)
        for (index, row) in rows.enumerated() {
            guard row.count == inputFeatures else {
                throw .raggedRows(row: index, count: row.count, expectedFeatures: inputFeatures)
            }
            flat.append(contentsOf: row)
        }
        let output = try predict(flat, batchSize: rows.count)
        return (0..<rows.count).map { Array(output[($0 * outputFeatures)..<(($0 + 1) * outputFeatures)]) }
    }
}
