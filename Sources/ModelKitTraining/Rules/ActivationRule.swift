import ModelKitCore

/// The forward formula and the gradient rule of every parameter-free layer kind, in one place (`Specs/layers.md`,
/// "Backward" of each kind).
///
/// `x` is the layer's input, `y` its output and `dy` = ∂L/∂y; ``backward(input:output:outputGradient:inputGradient:count:rows:width:mask:)``
/// writes `dx` = ∂L/∂x. Element-wise kinds use `x` or `y`, whichever gives the derivative without recomputation;
/// the row-wise kinds (softmax, log-softmax) use `y` and a per-row sum.
public enum ActivationRule: Sendable, Equatable {
    /// `max(x, 0)`; `dx = dy` where `x > 0`, else 0 (0 at exactly 0, as PyTorch).
    case relu
    /// `x` for `x > 0`, else `α·x`; `dx = dy` where `x > 0`, else `α·dy` (α at exactly 0, as PyTorch).
    case leakyRelu(alpha: Double)
    /// `σ(x) = 1/(1 + e^−x)`; `dx = dy·y·(1 − y)`.
    case sigmoid
    /// `tanh x`; `dx = dy·(1 − y²)`.
    case tanh
    /// `x·Φ(x)`; `dx = dy·(Φ(x) + x·φ(x))`.
    case gelu
    /// `½x(1 + tanh u)`, `u = √(2/π)(x + 0.044715x³)`; `dx = dy·(½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²))`.
    case geluTanh
    /// `x·σ(x)`; `dx = dy·σ(x)(1 + x(1 − σ(x)))`.
    case silu
    /// Row-wise `e^(x−max)/Σe^(x−max)`; `dx = y ⊙ (dy − Σ_c dy_c·y_c)`.
    case softmax
    /// Row-wise `x − max − log Σe^(x−max)`; `dx = dy − e^y · Σ_c dy_c`.
    case logSoftmax
    /// `y = x`; `dx = dy`.
    case identity
    /// Training: `y = x·m` with `m` 0 (probability `rate`) or `1/(1 − rate)`; `dx = dy·m`. Evaluation: identity.
    case dropout(rate: Double)

    /// The rule of a parameter-free layer.
    ///
    /// - Throws: ``TrainingError/unsupportedLayer(layer:reason:)`` for dense layers (see ``DenseRule``), a
    ///   softmax over an axis other than the last, or a dropout rate outside `[0, 1)`.
    public init(layer: Layer) throws(TrainingError) {
        switch layer.kind {
        case .relu: self = .relu
        case .leakyRelu: self = .leakyRelu(alpha: Double(layer.alpha))
        case .sigmoid: self = .sigmoid
        case .tanh: self = .tanh
        case .gelu: self = layer.usesTanhApproximation ? .geluTanh : .gelu
        case .silu: self = .silu
        case .softmax, .logSoftmax:
            guard layer.axis == -1 || layer.axis == 1 else {
                throw .unsupportedLayer(layer: layer.name, reason: "\(layer.kind.rawValue) over axis \(layer.axis); only the last axis (-1) can be trained")
            }
            self = layer.kind == .softmax ? .softmax : .logSoftmax
        case .identity: self = .identity
        case .dropout:
            let rate = layer.attributes["rate"]?.doubleValue ?? 0
            guard rate >= 0, rate < 1 else {
                throw .unsupportedLayer(layer: layer.name, reason: "dropout rate \(rate) is outside [0, 1)")
            }
            self = .dropout(rate: rate)
        case .dense: throw .unsupportedLayer(layer: layer.name, reason: "dense layers have parameters; use DenseRule")
        }
    }

    /// Whether the rule works on whole rows rather than element by element.
    public var isRowWise: Bool { self == .softmax || self == .logSoftmax }

    /// `y = f(x)` for `rows × width` values; `mask` (dropout in training only) scales each element.
    public func forward<T: TrainingScalar>(input x: UnsafePointer<T>, output y: UnsafeMutablePointer<T>, rows: Int,
                                           width: Int, mask: UnsafePointer<T>?) {
        let count = rows * width
        switch self {
        case .relu:
            for i in 0..<count { y[i] = x[i] > 0 ? x[i] : (x[i].isNaN ? x[i] : 0) }
        case .leakyRelu(let alphaValue):
            let alpha = T(alphaValue)
            for i in 0..<count { y[i] = x[i] > 0 ? x[i] : alpha * x[i] }
        case .sigmoid:
            for i in 0..<count { y[i] = Self.logistic(x[i]) }
        case .tanh:
            for i in 0..<count { y[i] = T.hyperbolicTangent(x[i]) }
        case .gelu:
            for i in 0..<count { y[i] = x[i] * Self.normalCDF(x[i]) }
        case .geluTanh:
            for i in 0..<count {
                let u = Self.geluTanhInner(x[i])
                y[i] = x[i] * (1 + T.hyperbolicTangent(u)) / 2
            }
        case .silu:
            for i in 0..<count { y[i] = x[i] * Self.logistic(x[i]) }
        case .softmax:
            for row in 0..<rows { Self.softmaxRow(x + row * width, y + row * width, width, log: false) }
        case .logSoftmax:
            for row in 0..<rows { Self.softmaxRow(x + row * width, y + row * width, width, log: true) }
        case .identity:
            if UnsafePointer(y) != x { y.update(from: x, count: count) }
        case .dropout:
            if let mask {
                for i in 0..<count { y[i] = x[i] * mask[i] }
            } else if UnsafePointer(y) != x {
                y.update(from: x, count: count)
            }
        }
    }

    /// `dx` from `dy`, the layer's input `x` and output `y` (`rows × width` each).
    public func backward<T: TrainingScalar>(input x: UnsafePointer<T>, output y: UnsafePointer<T>,
                                            outputGradient dy: UnsafePointer<T>, inputGradient dx: UnsafeMutablePointer<T>,
                                            rows: Int, width: Int, mask: UnsafePointer<T>?) {
        let count = rows * width
        switch self {
        case .relu:
            for i in 0..<count { dx[i] = x[i] > 0 ? dy[i] : 0 }
        case .leakyRelu(let alphaValue):
            let alpha = T(alphaValue)
            for i in 0..<count { dx[i] = x[i] > 0 ? dy[i] : alpha * dy[i] }
        case .sigmoid:
            for i in 0..<count { dx[i] = dy[i] * y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
        case .gelu:
            // φ(x) = e^(−x²/2)/√(2π)
            let inverseRootTwoPi = T(0.398_942_280_401_432_677_94)
            for i in 0..<count {
                let density = inverseRootTwoPi * T.exponential(-x[i] * x[i] / 2)
                dx[i] = dy[i] * (Self.normalCDF(x[i]) + x[i] * density)
            }
        case .geluTanh:
            let rootTwoOverPi = T(0.797_884_560_802_865_355_88), cubic = T(0.044_715)
            for i in 0..<count {
                let t = T.hyperbolicTangent(Self.geluTanhInner(x[i]))
                let inner = rootTwoOverPi * (1 + 3 * cubic * x[i] * x[i])
                dx[i] = dy[i] * ((1 + t) / 2 + x[i] * (1 - t * t) / 2 * inner)
            }
        case .silu:
            for i in 0..<count {
                let s = Self.logistic(x[i])
                dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
            }
        case .softmax:
            for row in 0..<rows {
                let base = row * width
                var dot: T = 0
                for c in 0..<width { dot += dy[base + c] * y[base + c] }
                for c in 0..<width { dx[base + c] = y[base + c] * (dy[base + c] - dot) }
            }
        case .logSoftmax:
            for row in 0..<rows {
                let base = row * width
                var sum: T = 0
                for c in 0..<width { sum += dy[base + c] }
                for c in 0..<width { dx[base + c] = dy[base + c] - T.exponential(y[base + c]) * sum }
            }
        case .identity:
            if UnsafePointer(dx) != dy { dx.update(from: dy, count: count) }
        case .dropout:
            if let mask {
                for i in 0..<count { dx[i] = dy[i] * mask[i] }
            } else if UnsafePointer(dx) != dy {
                dx.update(from: dy, count: count)
            }
        }
    }

    /// `1/(1 + e^−x)`; for very negative `x`, `e^−x` overflows to infinity and the result is exactly 0.
    @inline(__always)
    static func logistic<T: TrainingScalar>(_ x: T) -> T { 1 / (1 + T.exponential(-x)) }

    /// Φ(x) = ½(1 + erf(x/√2)).
    @inline(__always)
    static func normalCDF<T: TrainingScalar>(_ x: T) -> T {
        (1 + T.errorFunction(x * T(0.707_106_781_186_547_524_40))) / 2
    }

    @inline(__always)
    static func geluTanhInner<T: TrainingScalar>(_ x: T) -> T {
        T(0.797_884_560_802_865_355_88) * (x + T(0.044_715) * x * x * x)
    }

    /// Stable softmax or log-softmax of one row (the row maximum subtracted first).
    static func softmaxRow<T: TrainingScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ width: Int, log: Bool) {
        guard width > 0 else { return }
        var maximum = x[0]
        for c in 1..<max(width, 1) where x[c] > maximum || x[c].isNaN { maximum = x[c] }
        var sum: T = 0
        for c in 0..<width { sum += T.exponential(x[c] - maximum) }
        if log {
            let logSum = T.logarithm(sum)
            for c in 0..<width { y[c] = (x[c] - maximum) - logSum }
        } else {
            for c in 0..<width { y[c] = T.exponential(x[c] - maximum) / sum }
        }
    }
}
