import ModelKitCore

/// An activation applied element by element, the form the engine runs (after reading a model's layers).
enum ElementwiseActivation: Sendable, Equatable {
    case relu
    case leakyRelu(alpha: Float)
    case sigmoid
    case tanh
    /// GELU, exact (erf) form.
    case gelu
    /// GELU, tanh approximation.
    case geluTanh
    case silu

    /// The activation of a layer, `nil` for kinds that are the identity at inference (identity, dropout) or that
    /// work on whole rows (softmax, log-softmax) or are not activations (dense).
    init?(layer: Layer) {
        switch layer.kind {
        case .relu: self = .relu
        case .leakyRelu: self = .leakyRelu(alpha: layer.alpha)
        case .sigmoid: self = .sigmoid
        case .tanh: self = .tanh
        case .gelu: self = layer.usesTanhApproximation ? .geluTanh : .gelu
        case .silu: self = .silu
        case .dense, .softmax, .logSoftmax, .identity, .dropout: return nil
        }
    }

    @inline(__always)
    func apply(_ x: FloatVector) -> FloatVector {
        switch self {
        // `replacing` keeps NaN (NaN < 0 is false), as PyTorch does.
        case .relu: x.replacing(with: 0, where: x .< 0)
        case .leakyRelu(let alpha): x.replacing(with: x * alpha, where: x .< 0)
        case .sigmoid: VectorMath.sigmoid(x)
        case .tanh: VectorMath.tanh(x)
        case .gelu: VectorMath.gelu(x)
        case .geluTanh: VectorMath.geluTanh(x)
        case .silu: x * VectorMath.sigmoid(x)
        }
    }
}

/// The fused epilogue of a dense layer: `C[r, c] = act_k(…act_1(C[r, c] + bias[c]))` in one pass over a block.
enum Epilogue {
    /// Applies `bias` (when given) and `activations` to `rows` rows of `columns` of the matrix at `base`
    /// (row stride `stride`). `bias` is indexed by absolute column.
    static func apply(rows: Int, columns: Range<Int>, base: UnsafeMutablePointer<Float>, stride: Int,
                      bias: UnsafePointer<Float>?, activations: [ElementwiseActivation]) {
        guard rows > 0, !columns.isEmpty, bias != nil || !activations.isEmpty else { return }
        // The common cases get their own loops so that the per-vector work is a single add and compare.
        if activations.isEmpty, let bias {
            for row in 0..<rows { biasOnly(base + row * stride, bias: bias, columns: columns) }
        } else if activations == [.relu] {
            for row in 0..<rows { biasRelu(base + row * stride, bias: bias, columns: columns) }
        } else {
            for row in 0..<rows { general(base + row * stride, bias: bias, columns: columns, activations: activations) }
        }
    }

    @inline(__always)
    private static func biasOnly(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, columns: Range<Int>) {
        var column = columns.lowerBound
        while column + 8 <= columns.upperBound {
            store(load(row + column) + load(bias + column), row + column)
            column += 8
        }
        while column < columns.upperBound {
            row[column] += bias[column]
            column += 1
        }
    }

    @inline(__always)
    private static func biasRelu(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, columns: Range<Int>) {
        var column = columns.lowerBound
        while column + 8 <= columns.upperBound {
            var value = load(row + column)
            if let bias { value += load(bias + column) }
            store(value.replacing(with: 0, where: value .< 0), row + column)
            column += 8
        }
        while column < columns.upperBound {
            let value = row[column] + (bias?[column] ?? 0)
            row[column] = value < 0 ? 0 : value
            column += 1
        }
    }

    private static func general(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, columns: Range<Int>,
                                activations: [ElementwiseActivation]) {
        var column = columns.lowerBound
        while column + 8 <= columns.upperBound {
            var value = load(row + column)
            if let bias { value += load(bias + column) }
            for activation in activations { value = activation.apply(value) }
            store(value, row + column)
            column += 8
        }
        let remaining = columns.upperBound - column
        guard remaining > 0 else { return }
        // The tail goes through the same vector code, zero-padded, so every column gets identical math.
        var value = FloatVector()
        for lane in 0..<remaining { value[lane] = row[column + lane] + (bias?[column + lane] ?? 0) }
        for activation in activations { value = activation.apply(value) }
        for lane in 0..<remaining { row[column + lane] = value[lane] }
    }

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> FloatVector {
        UnsafeRawPointer(pointer).loadUnaligned(as: FloatVector.self)
    }

    @inline(__always)
    static func load(_ pointer: UnsafeMutablePointer<Float>) -> FloatVector {
        UnsafeRawPointer(pointer).loadUnaligned(as: FloatVector.self)
    }

    @inline(__always)
    static func store(_ value: FloatVector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: FloatVector.self)
    }
}
