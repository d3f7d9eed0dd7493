import ModelKitCore

/// How well one parameter tensor's analytic gradient agrees with central finite differences.
public struct ParameterGradientCheck: Sendable, Equatable {
    /// The layer the tensor belongs to.
    public var layer: String
    /// The parameter tensor's name.
    public var tensor: String
    /// Elements compared.
    public var checkedElements: Int
    /// The worst `|analytic − numeric| / max(|analytic|, |numeric|, floor)` over the compared elements.
    public var worstRelativeError: Double
    /// The flat index, analytic and numeric values at the worst element.
    public var worstIndex: Int
    /// The float64 analytic gradient at the worst element.
    public var analytic: Double
    /// The central-difference estimate at the worst element.
    public var numeric: Double
}

/// The result of ``GradientCheck/run(model:inputs:targets:loss:l2:step:maximumElementsPerTensor:seed:)``.
public struct GradientCheckResult: Sendable, Equatable {
    /// One entry per trainable parameter tensor, in model order.
    public var parameters: [ParameterGradientCheck]

    /// The worst relative error of each dense layer (over its weight and bias), in model order.
    public var worstByLayer: [(layer: String, worstRelativeError: Double)] {
        var result: [(layer: String, worstRelativeError: Double)] = []
        for entry in parameters {
            if let index = result.firstIndex(where: { $0.layer == entry.layer }) {
                result[index].worstRelativeError = max(result[index].worstRelativeError, entry.worstRelativeError)
            } else {
                result.append((entry.layer, entry.worstRelativeError))
            }
        }
        return result
    }

    /// The worst relative error over everything checked.
    public var worstRelativeError: Double { parameters.map(\.worstRelativeError).max() ?? 0 }

    /// Equal when every per-tensor entry is equal.
    public static func == (lhs: GradientCheckResult, rhs: GradientCheckResult) -> Bool { lhs.parameters == rhs.parameters }
}

/// Checks the backward pass against central finite differences, entirely in float64.
///
/// Both sides run in float64 on a float64 copy of the parameters: the analytic gradient comes from the same generic
/// gradient rules the float32 trainer runs (``ActivationRule``, ``DenseRule``, ``LossFunction``) instantiated with
/// `Double`, and the numeric one is `(L(p + h) − L(p − h)) / 2h` per element. So the comparison measures the rules,
/// not float32 rounding: correct rules agree to about 1e-8 (worse only near a ReLU kink that `h` straddles).
public enum GradientCheck {
    /// The smallest denominator of the relative error: gradients below it are compared at this scale. Central
    /// differences of an O(1) loss carry an absolute rounding error of about ε·|L|/h ≈ 1e-11 (h = 1e-5), so a
    /// relative error of a gradient much smaller than 1e-4 would measure that rounding, not the rule.
    public static let relativeFloor = 1e-4

    /// Compares analytic and numeric gradients of every parameter of `model` on one batch.
    ///
    /// - Parameters:
    ///   - model: The model (dropout layers run as identity; a final softmax/sigmoid is fused as in training).
    ///   - inputs: `rows × features` values.
    ///   - targets: The batch's targets.
    ///   - loss: The loss (with its fused final layer, as training uses it).
    ///   - l2: The l2 penalty factor, 0 for none.
    ///   - step: The finite-difference step `h`.
    ///   - maximumElementsPerTensor: Check at most this many elements per tensor (chosen by a seeded generator),
    ///     `nil` for all.
    ///   - seed: Seeds that choice.
    /// - Throws: ``TrainingError`` when the model or data cannot be trained.
    public static func run(model: Model, inputs: [Float], targets: TrainingTargets, loss: LossFunction, l2: Double = 0,
                           step: Double = 1e-5, maximumElementsPerTensor: Int? = nil,
                           seed: UInt64 = 0) throws(TrainingError) -> GradientCheckResult {
        var layers = model.layers[...]
        if let kind = loss.fusedFinalLayer, model.layers.last?.kind == kind { layers = layers.dropLast() }
        let network = try TrainingNetwork<Double>(model: model, layers: layers, frozen: [])
        let rows = targets.rows
        guard rows > 0, inputs.count == rows * network.inputFeatures else {
            throw .invalidData(reason: "\(inputs.count) input values are not \(rows) rows of \(network.inputFeatures) features")
        }
        network.reserve(rows: rows)
        for index in 0..<inputs.count { network.inputBuffer[index] = Double(inputs[index]) }
        let width = network.outputFeatures
        var classIDs: [Int64] = []
        var values: [Double] = []
        switch targets {
        case .classes(let ids):
            guard loss == .crossEntropy else { throw .invalidData(reason: "class ids are targets for cross-entropy only") }
            for id in ids where id < 0 || id >= Int64(width) {
                throw .invalidData(reason: "class id \(id) is outside 0..<\(width)")
            }
            classIDs = ids
        case .values(let floats, let columns):
            guard columns == width else { throw .invalidData(reason: "targets have \(columns) columns, the output has \(width)") }
            values = floats.map(Double.init)
        }

        // Stable pointers for the loss (the arrays are not touched while these live).
        let targetIDs = UnsafeMutablePointer<Int64>.allocate(capacity: max(classIDs.count, 1))
        targetIDs.initialize(from: classIDs, count: classIDs.count)
        let targetValues = UnsafeMutablePointer<Double>.allocate(capacity: max(values.count, 1))
        targetValues.initialize(from: values, count: values.count)
        defer {
            targetIDs.deallocate()
            targetValues.deallocate()
        }

        func lossValue(gradient: Bool) -> Double {
            network.forward(rows: rows, dropoutMask: nil)
            let view: TargetView<Double> = classIDs.isEmpty ? .values(UnsafePointer(targetValues)) : .classes(UnsafePointer(targetIDs))
            let evaluation = loss.evaluate(output: network.output, rows: rows, width: width, targets: view,
                                           gradient: gradient ? network.outputGradient : nil)
            var penalty = 0.0
            if l2 != 0 {
                for slot in network.dense {
                    for index in 0..<slot.weightCount { penalty += slot.weight[index] * slot.weight[index] }
                }
            }
            return evaluation.value + 0.5 * l2 * penalty
        }

        _ = lossValue(gradient: true)
        network.backward()
        var random = TrainingRandom(seed: seed)
        var results: [ParameterGradientCheck] = []
        for slot in network.dense {
            var tensors: [(String, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, Int, Bool)] = [
                (slot.weightName, slot.weight, slot.weightGradient, slot.weightCount, true),
            ]
            if let name = slot.biasName, let bias = slot.bias, let gradient = slot.biasGradient {
                tensors.append((name, bias, gradient, slot.outputs, false))
            }
            for (name, parameter, gradient, count, isWeight) in tensors {
                var indices = Array(0..<count)
                if let limit = maximumElementsPerTensor, limit < count {
                    indices = Array(random.permutation(of: count).prefix(limit)).sorted()
                }
                var entry = ParameterGradientCheck(layer: slot.layerName, tensor: name, checkedElements: indices.count,
                                                   worstRelativeError: 0, worstIndex: -1, analytic: 0, numeric: 0)
                for index in indices {
                    let analytic = gradient[index] + (isWeight && l2 != 0 ? l2 * parameter[index] : 0)
                    let saved = parameter[index]
                    parameter[index] = saved + step
                    let plus = lossValue(gradient: false)
                    parameter[index] = saved - step
                    let minus = lossValue(gradient: false)
                    parameter[index] = saved
                    let numeric = (plus - minus) / (2 * step)
                    let error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), relativeFloor)
                    if error > entry.worstRelativeError || entry.worstIndex < 0 {
                        entry.worstRelativeError = error
                        entry.worstIndex = index
                        entry.analytic = analytic
                        entry.numeric = numeric
                    }
                }
                results.append(entry)
            }
        }
        return GradientCheckResult(parameters: results)
    }
}
