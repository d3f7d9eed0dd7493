import ModelKitCore

extension Trainer {
    /// Runs the training layers (without a fused final layer) on `rows` rows, keeping every layer's output as the
    /// cache ``backward()`` reads; dropout layers draw masks when enabled.
    ///
    /// - Returns: the training output (`rows × outputFeatures`, logits when a final layer is fused).
    /// - Throws: ``TrainingError/invalidData(reason:)`` when `inputs` is not `rows × inputFeatures` values.
    @discardableResult
    public func forward(_ inputs: [Float], rows: Int) throws(TrainingError) -> [Float] {
        try forwardInPlace(inputs, rows: rows)
        return Array(UnsafeBufferPointer(start: network.output, count: rows * network.outputFeatures))
    }

    /// ``forward(_:rows:)`` without copying the output out (the step path allocates nothing).
    func forwardInPlace(_ inputs: [Float], rows: Int) throws(TrainingError) {
        try checkRows(inputs.count, rows: rows)
        reserve(rows: rows)
        inputs.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { network.inputBuffer.update(from: base, count: inputs.count) }
        }
        runForward(rows: rows, training: true)
    }

    /// The loss of the last ``forward(_:rows:)`` against `targets` (plus the l2 penalty), leaving ∂L/∂output ready
    /// for ``backward()``.
    ///
    /// - Throws: ``TrainingError/invalidData(reason:)`` when the targets do not fit the rows, outputs or loss.
    public func computeLoss(targets: TrainingTargets) throws(TrainingError) -> LossResult {
        let rows = network.rows
        guard targets.rows == rows else {
            throw .invalidData(reason: "\(targets.rows) target rows for a batch of \(rows) rows; they must match")
        }
        try loadTargets(targets, rows: rows, offset: 0, order: nil)
        let evaluation = evaluateLoss(rows: rows, targets: targets, gradient: true)
        let penalty = l2Penalty()
        lossReady = true
        return LossResult(loss: evaluation.value + penalty, dataLoss: evaluation.value, correct: evaluation.correct, rows: rows)
    }

    /// Back-propagates the loss of ``computeLoss(targets:)``: every trainable parameter's gradient is overwritten
    /// (`l2·W` added to trained weights when l2 is set).
    public func backward() {
        precondition(lossReady, "computeLoss(targets:) must run after forward and before backward")
        network.backward()
        addL2Gradient()
        lossReady = false
        gradientsReady = true
    }

    /// Clips the gradients (when configured), updates the parameters with this step's scheduled learning rate,
    /// and advances the step count (the schedule's position).
    ///
    /// - Returns: the learning rate used and the gradient norm before clipping (when clipping is on).
    @discardableResult
    public func step() -> (learningRate: Double, gradientNormBeforeClip: Double?) {
        precondition(gradientsReady, "backward() must run before step()")
        var norm: Double?
        if let maximum = configuration.clipGradientNorm { norm = clipGradients(maximum: maximum) }
        let rate = configuration.schedule.learningRate(base: configuration.optimizer.learningRate, step: state.globalStep)
        optimizer.step(learningRate: rate)
        state.globalStep += 1
        gradientsReady = false
        return (rate, norm)
    }

    /// One optimizer step on a batch: forward, loss (+ l2), backward, clip, update, schedule.
    ///
    /// - Parameters:
    ///   - batchX: `rows × inputFeatures` values.
    ///   - batchY: the batch's targets.
    /// - Returns: the loss before the update, the learning rate used, accuracy for classification.
    /// - Throws: ``TrainingError/invalidData(reason:)`` when the batch does not fit the model or loss.
    public func trainStep(batchX: [Float], batchY: TrainingTargets) throws(TrainingError) -> StepResult {
        let rows = batchY.rows
        try checkRows(batchX.count, rows: rows)
        reserve(rows: rows)
        // Forward and backward both run inside this call, so they read the caller's rows in place (no copy).
        let loss = try batchX.withUnsafeBufferPointer { source throws(TrainingError) -> LossResult in
            guard let base = source.baseAddress else {
                try forwardInPlace(batchX, rows: rows)
                let loss = try computeLoss(targets: batchY)
                backward()
                return loss
            }
            let own = network.borrowInput(UnsafeMutablePointer(mutating: base))
            defer { network.restoreInput(own) }
            runForward(rows: rows, training: true)
            let loss = try computeLoss(targets: batchY)
            backward()
            return loss
        }
        let (rate, norm) = step()
        state.stepLosses.append(loss.loss)
        return StepResult(loss: loss.loss, dataLoss: loss.dataLoss, correct: loss.correct, rows: rows, learningRate: rate,
                          gradientNormBeforeClip: norm)
    }

    // MARK: Shared pieces

    func checkRows(_ count: Int, rows: Int) throws(TrainingError) {
        let (expected, overflow) = rows.multipliedReportingOverflow(by: network.inputFeatures)
        guard rows > 0, !overflow, count == expected else {
            throw .invalidData(reason: "\(count) input values are not \(rows) rows of \(network.inputFeatures) features")
        }
    }

    func runForward(rows: Int, training: Bool) {
        if training && configuration.dropoutEnabled {
            network.forward(rows: rows) { [self] mask, count, rate in
                let keep = Float(1 / (1 - rate)), threshold = Float(rate)
                for index in 0..<count { mask[index] = dropoutRandom.nextUnitFloat() < threshold ? 0 : keep }
                state.dropoutState = dropoutRandom.state
            }
        } else {
            network.forward(rows: rows, dropoutMask: nil)
        }
    }

    /// Copies `rows` targets (from `offset`, or from the rows `order[offset...]`) into the target buffers, checking
    /// them against the loss and output width.
    func loadTargets(_ targets: TrainingTargets, rows: Int, offset: Int, order: [Int]?) throws(TrainingError) {
        let width = network.outputFeatures
        let loss = configuration.loss
        guard offset + rows <= targets.rows else {
            throw .invalidData(reason: "\(targets.rows) target rows for a batch of \(rows) rows; they must match")
        }
        reserve(rows: rows)
        switch targets {
        case .classes(let ids):
            guard loss == .crossEntropy else {
                throw .invalidData(reason: "integer class ids are targets for cross-entropy, not \(loss.rawValue); give float targets")
            }
            for row in 0..<rows {
                let id = ids[order?[offset + row] ?? offset + row]
                guard id >= 0, id < Int64(width) else {
                    throw .invalidData(reason: "class id \(id) in row \(order?[offset + row] ?? offset + row) is outside 0..<\(width) (the model has \(width) outputs)")
                }
                classBuffer[row] = id
            }
        case .values(let values, let columns):
            guard columns == width else {
                throw .invalidData(reason: "targets have \(columns) columns but the model's training output has \(width)")
            }
            values.withUnsafeBufferPointer { source in
                guard let base = source.baseAddress else { return }
                for row in 0..<rows {
                    let from = order?[offset + row] ?? offset + row
                    (valueBuffer + row * width).update(from: base + from * width, count: width)
                }
            }
        }
    }

    func evaluateLoss(rows: Int, targets: TrainingTargets, gradient: Bool) -> LossEvaluation {
        let view: TargetView<Float>
        if case .classes = targets { view = .classes(UnsafePointer(classBuffer)) } else { view = .values(UnsafePointer(valueBuffer)) }
        return configuration.loss.evaluate(output: network.output, rows: rows, width: network.outputFeatures, targets: view,
                                           gradient: gradient ? network.outputGradient : nil)
    }

    /// `½·l2·Σ‖W‖²` over the trained weights, in float64.
    func l2Penalty() -> Double {
        guard configuration.l2 != 0 else { return 0 }
        var sum = 0.0
        for parameter in optimizer.parameters where parameter.isWeight {
            var part: Float = 0
            for index in 0..<parameter.count { part += parameter.values[index] * parameter.values[index] }
            sum += Double(part)
        }
        return 0.5 * configuration.l2 * sum
    }

    private func addL2Gradient() {
        guard configuration.l2 != 0 else { return }
        let l2 = Float(configuration.l2)
        for parameter in optimizer.parameters where parameter.isWeight {
            for index in 0..<parameter.count { parameter.gradient[index] += l2 * parameter.values[index] }
        }
    }

    /// `clip_grad_norm_`: total = √Σg² over every trainable parameter; `coef = max/(total + 1e-6)` clamped to ≤ 1.
    func clipGradients(maximum: Double) -> Double {
        var total = 0.0
        for parameter in optimizer.parameters {
            var sum = 0.0
            for index in 0..<parameter.count { sum += Double(parameter.gradient[index]) * Double(parameter.gradient[index]) }
            total += sum
        }
        let norm = total.squareRoot()
        let coefficient = Self.clipCoefficient(norm: norm, maximum: maximum)
        if coefficient < 1 {
            let factor = Float(coefficient)
            for parameter in optimizer.parameters {
                for index in 0..<parameter.count { parameter.gradient[index] *= factor }
            }
        }
        return norm
    }

    /// The clipping factor PyTorch applies: `min(maximum / (norm + 1e-6), 1)`.
    public static func clipCoefficient(norm: Double, maximum: Double) -> Double {
        min(maximum / (norm + 1e-6), 1)
    }
}
