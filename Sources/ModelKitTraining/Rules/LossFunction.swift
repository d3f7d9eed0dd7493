import ModelKitCore

/// The training objectives, with PyTorch's reductions (`Specs/training.md`, "Losses").
///
/// `z` is the network's training output (the logits when a final softmax or sigmoid is fused into the loss),
/// `y` the targets, `B` the rows of the batch and `C` the outputs per row.
public enum LossFunction: String, Sendable, CaseIterable, Codable {
    /// `nn.MSELoss()`: mean over all `B·C` elements of `(z − y)²`; ∂/∂z = `2(z − y)/(B·C)`.
    case mse
    /// `½·Σ(z − y)²` over all elements, no mean; ∂/∂z = `z − y`.
    case sseHalf = "sse-half"
    /// `nn.CrossEntropyLoss()` on logits: class ids give `(1/B)·Σ −log_softmax(z)[y]`, ∂/∂z = `(softmax(z) − onehot)/B`;
    /// probability rows give `(1/B)·Σ_rows −Σ_c y_c·log_softmax(z)_c`, ∂/∂z = `(softmax(z)·Σ_c y_c − y)/B`.
    case crossEntropy = "cross-entropy"
    /// `nn.BCEWithLogitsLoss()`: mean over all elements of `max(z,0) − z·y + log(1 + e^−|z|)`; ∂/∂z = `(σ(z) − y)/(B·C)`.
    case binaryCrossEntropy = "binary-cross-entropy"

    /// The activation a model's final layer may have that this loss absorbs (applies to logits itself).
    public var fusedFinalLayer: LayerKind? {
        switch self {
        case .crossEntropy: .softmax
        case .binaryCrossEntropy: .sigmoid
        case .mse, .sseHalf: nil
        }
    }

    /// Whether accuracy is meaningful (classification losses).
    public var reportsAccuracy: Bool { self == .crossEntropy || self == .binaryCrossEntropy }
}

/// A batch's targets as the loss reads them.
enum TargetView<T: TrainingScalar> {
    /// One class id per row, each already checked to lie in `0..<C`.
    case classes(UnsafePointer<Int64>)
    /// `rows × C` values.
    case values(UnsafePointer<T>)
}

/// What a loss evaluation gives: the mean-reduced (or summed) value and, for classification, correct rows.
struct LossEvaluation {
    var value: Double
    var correct: Int?
}

extension LossFunction {
    /// The loss of `rows × width` outputs `z` against `targets`, writing ∂L/∂z into `gradient` when given.
    func evaluate<T: TrainingScalar>(output z: UnsafePointer<T>, rows: Int, width: Int, targets: TargetView<T>,
                                     gradient: UnsafeMutablePointer<T>?) -> LossEvaluation {
        let count = rows * width
        guard count > 0 else { return LossEvaluation(value: 0, correct: reportsAccuracy ? 0 : nil) }
        switch self {
        case .mse, .sseHalf:
            guard case .values(let y) = targets else { preconditionFailure("regression losses take value targets") }
            var sum = 0.0
            let scale: T = self == .mse ? 2 / T(count) : 1
            for i in 0..<count {
                let difference = z[i] - y[i]
                sum += Double(difference * difference)
                gradient?[i] = scale * difference
            }
            return LossEvaluation(value: self == .mse ? sum / Double(count) : sum / 2, correct: nil)
        case .binaryCrossEntropy:
            guard case .values(let y) = targets else { preconditionFailure("binary cross-entropy takes value targets") }
            var sum = 0.0
            var correct = 0
            let scale = 1 / T(count)
            for i in 0..<count {
                let logit = z[i]
                let term = max(logit, 0) - logit * y[i] + T.logarithmOnePlus(T.exponential(-abs(logit)))
                sum += Double(term)
                gradient?[i] = (ActivationRule.logistic(logit) - y[i]) * scale
                if (logit > 0) == (y[i] > T(0.5)) { correct += 1 }
            }
            return LossEvaluation(value: sum / Double(count), correct: correct)
        case .crossEntropy:
            return crossEntropy(z, rows: rows, width: width, targets: targets, gradient: gradient)
        }
    }

    private func crossEntropy<T: TrainingScalar>(_ z: UnsafePointer<T>, rows: Int, width: Int, targets: TargetView<T>,
                                                 gradient: UnsafeMutablePointer<T>?) -> LossEvaluation {
        var sum = 0.0
        var correct = 0
        let scale = 1 / T(rows)
        for row in 0..<rows {
            let logits = z + row * width
            var maximum = logits[0], best = 0
            for c in 1..<max(width, 1) where logits[c] > maximum {
                maximum = logits[c]
                best = c
            }
            var total: T = 0
            for c in 0..<width { total += T.exponential(logits[c] - maximum) }
            let logSum = T.logarithm(total)
            switch targets {
            case .classes(let ids):
                let label = Int(ids[row])
                sum -= Double((logits[label] - maximum) - logSum)
                if best == label { correct += 1 }
                if let gradient {
                    let line = gradient + row * width
                    for c in 0..<width { line[c] = T.exponential(logits[c] - maximum) / total * scale }
                    line[label] -= scale
                }
            case .values(let probabilities):
                let y = probabilities + row * width
                var rowLoss: T = 0, mass: T = 0, targetBest = 0
                for c in 0..<width {
                    rowLoss -= y[c] * ((logits[c] - maximum) - logSum)
                    mass += y[c]
                    if y[c] > y[targetBest] { targetBest = c }
                }
                sum += Double(rowLoss)
                if best == targetBest { correct += 1 }
                if let gradient {
                    let line = gradient + row * width
                    for c in 0..<width { line[c] = (T.exponential(logits[c] - maximum) / total * mass - y[c]) * scale }
                }
            }
        }
        return LossEvaluation(value: sum / Double(rows), correct: correct)
    }
}
