#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Work that needs whole rows: softmax and log-softmax over the features, and element-wise activations that follow
/// them in the model.
enum RowOperation: Sendable, Equatable {
    /// `e^(x − max) / Σ e^(x − max)`.
    case softmax
    /// `x − max − log Σ e^(x − max)`.
    case logSoftmax
    case elementwise([ElementwiseActivation])

    /// Applies the operation to `rows` rows of `width` values at `base` (row stride `stride`).
    func apply(rows: Int, width: Int, base: UnsafeMutablePointer<Float>, stride: Int) {
        guard width > 0 else { return }
        for row in 0..<rows {
            let values = base + row * stride
            switch self {
            case .softmax: Self.softmax(values, width)
            case .logSoftmax: Self.logSoftmax(values, width)
            case .elementwise(let activations):
                Epilogue.apply(rows: 1, columns: 0..<width, base: values, stride: width, bias: nil, activations: activations)
            }
        }
    }

    /// The largest value of the row, or NaN when the row holds one (so that NaN spreads, as in PyTorch).
    @inline(__always)
    private static func rowMaximum(_ values: UnsafeMutablePointer<Float>, _ width: Int) -> Float {
        var maximum = FloatVector(repeating: -.infinity)
        var sawNaN = false
        var column = 0
        while column + 8 <= width {
            let value = Epilogue.load(values + column)
            sawNaN = sawNaN || any(value .!= value)
            maximum = pointwiseMax(maximum, value)
            column += 8
        }
        var result = maximum.max()
        while column < width {
            let value = values[column]
            if value.isNaN { sawNaN = true }
            result = Swift.max(result, value)
            column += 1
        }
        return sawNaN ? .nan : result
    }

    /// Σ e^(x − shift), storing each term when `store` is set.
    @inline(__always)
    private static func sumOfExponentials(_ values: UnsafeMutablePointer<Float>, _ width: Int, shift: Float,
                                          store: Bool) -> Float {
        var sum = FloatVector()
        var column = 0
        while column + 8 <= width {
            let terms = VectorMath.exp(Epilogue.load(values + column) - shift)
            if store { Epilogue.store(terms, values + column) }
            sum += terms
            column += 8
        }
        var total = sum.sum()
        let remaining = width - column
        if remaining > 0 {
            // Unused lanes hold 0 (e⁰ = 1, never added): padding with −inf would make e^x subnormal, which is slow.
            var tail = FloatVector()
            for lane in 0..<remaining { tail[lane] = values[column + lane] - shift }
            let terms = VectorMath.exp(tail)
            for lane in 0..<remaining {
                if store { values[column + lane] = terms[lane] }
                total += terms[lane]
            }
        }
        return total
    }

    /// Rows narrower than a vector (a 2-class classifier's output) are cheaper with scalar `expf` than with a
    /// vector built lane by lane.
    private static func narrowRow(_ values: UnsafeMutablePointer<Float>, _ width: Int, log: Bool) {
        var maximum = -Float.infinity
        var sawNaN = false
        for column in 0..<width {
            if values[column].isNaN { sawNaN = true }
            maximum = Swift.max(maximum, values[column])
        }
        if sawNaN { maximum = .nan }
        var sum: Float = 0
        for column in 0..<width { sum += expf(values[column] - maximum) }
        if log {
            let logSum = logf(sum)
            for column in 0..<width { values[column] = (values[column] - maximum) - logSum }
        } else {
            let scale = 1 / sum
            for column in 0..<width { values[column] = expf(values[column] - maximum) * scale }
        }
    }

    private static func softmax(_ values: UnsafeMutablePointer<Float>, _ width: Int) {
        if width < FloatVector.scalarCount { return narrowRow(values, width, log: false) }
        let maximum = rowMaximum(values, width)
        let scale = 1 / sumOfExponentials(values, width, shift: maximum, store: true)
        var column = 0
        while column + 8 <= width {
            Epilogue.store(Epilogue.load(values + column) * scale, values + column)
            column += 8
        }
        while column < width {
            values[column] *= scale
            column += 1
        }
    }

    private static func logSoftmax(_ values: UnsafeMutablePointer<Float>, _ width: Int) {
        if width < FloatVector.scalarCount { return narrowRow(values, width, log: true) }
        let maximum = rowMaximum(values, width)
        // (x − max) − log Σ, in this order as PyTorch does: adding max and log Σ first would round at max's scale.
        let logSum = logf(sumOfExponentials(values, width, shift: maximum, store: false))
        var column = 0
        while column + 8 <= width {
            Epilogue.store((Epilogue.load(values + column) - maximum) - logSum, values + column)
            column += 8
        }
        while column < width {
            values[column] = (values[column] - maximum) - logSum
            column += 1
        }
    }
}
