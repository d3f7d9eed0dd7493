/// What one optimizer step did.
public struct StepResult: Sendable, Equatable {
    /// The batch's loss at the weights before the update, the l2 penalty included.
    public var loss: Double
    /// The loss without the l2 penalty (equal to ``loss`` when l2 is 0).
    /// The loss without the l2 penalty.
    public var dataLoss: Double
    /// Correctly classified rows (classification losses), else `nil`.
    /// Correctly classified rows (classification losses), else `nil`.
    public var correct: Int?
    /// Rows in the batch.
    /// Rows the loss covers.
    public var rows: Int
    /// The learning rate the update used.
    public var learningRate: Double
    /// The global gradient norm before clipping (computed only when clipping is on).
    public var gradientNormBeforeClip: Double?

    /// `correct / rows`, for classification.
    public var accuracy: Double? { correct.map { rows > 0 ? Double($0) / Double(rows) : 0 } }
}

/// A loss over some rows without an update.
public struct LossResult: Sendable, Equatable {
    /// The loss (with the l2 penalty when computed for a training step; without it in ``Trainer/evaluate(_:)``).
    public var loss: Double
    public var dataLoss: Double
    public var correct: Int?
    public var rows: Int

    /// `correct / rows`, for classification.
    public var accuracy: Double? { correct.map { rows > 0 ? Double($0) / Double(rows) : 0 } }
}

/// What one epoch did.
public struct EpochResult: Sendable, Equatable {
    /// The epoch's 0-based index.
    public var epoch: Int
    /// The arithmetic mean of its steps' losses, every step weighing the same (as the fixtures record it).
    public var meanLoss: Double
    /// Correct rows over all rows, for classification.
    public var accuracy: Double?
    /// Steps taken in this call (fewer than a full epoch when resumed mid-epoch or stopped early).
    public var steps: Int
    /// Whether the epoch ran to its end (`false` when `onStep` asked to stop).
    public var completed: Bool
}
