import ModelKitCore

extension Trainer {
    /// Trains through the rest of the current epoch: batches of ``TrainingConfiguration/batchSize`` rows in file
    /// order, or in this epoch's Fisher–Yates order when shuffling; the last partial batch is kept.
    ///
    /// Resumes where ``state`` says (a restored checkpoint continues mid-epoch with the same order).
    ///
    /// - Parameters:
    ///   - data: The training rows.
    ///   - onStep: Called after every step; return `false` to stop after this step (the state then points at the
    ///     next batch, ready to save and resume).
    /// - Returns: The epoch's mean step loss and accuracy over the steps run in this call.
    /// - Throws: ``TrainingError/invalidData(reason:)`` when the data does not fit the model or loss.
    @discardableResult
    public func trainEpoch(_ data: TrainingData, onStep: ((StepResult) -> Bool)? = nil) throws(TrainingError) -> EpochResult {
        guard data.features == network.inputFeatures else {
            throw .invalidData(reason: "rows have \(data.features) features but the model takes \(network.inputFeatures)")
        }
        let rows = data.rows
        guard rows > 0 else { throw .invalidData(reason: "the data set has no rows") }
        let batch = configuration.batchSize
        let stepsPerEpoch = (rows + batch - 1) / batch
        var order: [Int]?
        var random = try TrainingRandom(state: state.shuffleState)
        if configuration.shuffle { order = random.permutation(of: rows) }
        reserve(rows: min(batch, rows))
        var losses = 0.0, correct = 0, seen = 0, steps = 0
        var completed = true
        while state.stepInEpoch < stepsPerEpoch {
            let start = state.stepInEpoch * batch
            let count = min(batch, rows - start)
            try gatherInputs(data, offset: start, rows: count, order: order)
            try loadTargets(data.targets, rows: count, offset: start, order: order)
            runForward(rows: count, training: true)
            let evaluation = evaluateLoss(rows: count, targets: data.targets, gradient: true)
            let penalty = l2Penalty()
            lossReady = true
            backward()
            let (rate, norm) = step()
            let result = StepResult(loss: evaluation.value + penalty, dataLoss: evaluation.value, correct: evaluation.correct,
                                    rows: count, learningRate: rate, gradientNormBeforeClip: norm)
            state.stepLosses.append(result.loss)
            state.stepInEpoch += 1
            losses += result.loss
            correct += result.correct ?? 0
            seen += count
            steps += 1
            if let onStep, !onStep(result), state.stepInEpoch < stepsPerEpoch {
                completed = false
                break
            }
        }
        let epoch = state.epoch
        if completed {
            // The epoch's mean over all its steps, including ones run before a resume.
            let epochLosses = state.stepLosses.suffix(stepsPerEpoch)
            state.epochMeanLosses.append(epochLosses.reduce(0, +) / Double(epochLosses.count))
            state.epoch += 1
            state.stepInEpoch = 0
            state.shuffleState = random.state
        }
        return EpochResult(epoch: epoch, meanLoss: steps > 0 ? losses / Double(steps) : 0,
                           accuracy: configuration.loss.reportsAccuracy ? (seen > 0 ? Double(correct) / Double(seen) : 0) : nil,
                           steps: steps, completed: completed)
    }

    /// The loss (without l2) and accuracy over all rows of `data` at the current weights, in batches of the batch
    /// size, dropout off. Changes no parameter, gradient or state.
    ///
    /// - Throws: ``TrainingError/invalidData(reason:)`` when the data does not fit the model or loss.
    public func evaluate(_ data: TrainingData) throws(TrainingError) -> LossResult {
        guard data.features == network.inputFeatures else {
            throw .invalidData(reason: "rows have \(data.features) features but the model takes \(network.inputFeatures)")
        }
        let rows = data.rows
        let batch = configuration.batchSize
        reserve(rows: min(batch, max(rows, 1)))
        var weighted = 0.0, correct = 0
        var start = 0
        while start < rows {
            let count = min(batch, rows - start)
            try gatherInputs(data, offset: start, rows: count, order: nil)
            try loadTargets(data.targets, rows: count, offset: start, order: nil)
            network.forward(rows: count, dropoutMask: nil)
            let evaluation = evaluateLoss(rows: count, targets: data.targets, gradient: false)
            // Every loss but sse-half is a mean over rows (times outputs); weight batches by rows to get the
            // mean over the whole set. sse-half is a sum, so batches add.
            weighted += configuration.loss == .sseHalf ? evaluation.value : evaluation.value * Double(count)
            correct += evaluation.correct ?? 0
            start += count
        }
        let loss = configuration.loss == .sseHalf ? weighted : (rows > 0 ? weighted / Double(rows) : 0)
        lossReady = false
        return LossResult(loss: loss, dataLoss: loss, correct: configuration.loss.reportsAccuracy ? correct : nil, rows: rows)
    }

    /// Copies `rows` input rows (from `offset`, or the rows `order[offset...]`) into the network's input buffer.
    func gatherInputs(_ data: TrainingData, offset: Int, rows: Int, order: [Int]?) throws(TrainingError) {
        let features = data.features
        guard features == network.inputFeatures else {
            throw .invalidData(reason: "rows have \(features) features but the model takes \(network.inputFeatures)")
        }
        reserve(rows: rows)
        let destination = network.inputBuffer
        data.inputs.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            if let order {
                for row in 0..<rows { (destination + row * features).update(from: base + order[offset + row] * features, count: features) }
            } else {
                destination.update(from: base + offset * features, count: rows * features)
            }
        }
    }
}

extension Trainer {
    /// Trains until ``TrainingState/epoch`` reaches ``TrainingConfiguration/epochs`` (continuing a resumed run).
    ///
    /// - Parameter onStep: Called after every step; return `false` to stop (state stays resumable).
    /// - Returns: The epochs run in this call.
    /// - Throws: ``TrainingError/invalidData(reason:)``.
    @discardableResult
    public func train(_ data: TrainingData, onStep: ((StepResult) -> Bool)? = nil) throws(TrainingError) -> [EpochResult] {
        var results: [EpochResult] = []
        while state.epoch < configuration.epochs {
            let result = try trainEpoch(data, onStep: onStep)
            results.append(result)
            if !result.completed { break }
        }
        return results
    }
}
